import { loadConfig } from '../config.js';
import { migrateFile } from '../db/migrate.js';

const config = loadConfig(process.env);
await migrateFile(config.databaseFile);
console.log(`Migrations applied to ${config.databaseFile}`);
