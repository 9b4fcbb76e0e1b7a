import { loadConfig } from '../config.js';
import { migrateConfigured } from '../db/migrate.js';

const config = loadConfig(process.env);
await migrateConfigured(config);
console.log(`Migrations applied to ${config.databaseUrl ? 'the PostgreSQL database' : config.databaseFile}`);
