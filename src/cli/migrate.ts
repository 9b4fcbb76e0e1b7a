import { loadConfig } from '../config.js';
import { openDatabase } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';

const config = loadConfig(process.env);
const db = openDatabase(config.databaseFile);
runMigrations(db);
db.$client.close();
console.log(`Migrations applied to ${config.databaseFile}`);
