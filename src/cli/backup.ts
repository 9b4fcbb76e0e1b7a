import path from 'node:path';
import { loadConfig } from '../config.js';
import { openSqlite } from '../db/database.js';

/**
 * npm run db:backup -- <destination file>
 * A consistent copy of the SQLite database while the app keeps serving (SQLite's online
 * backup API; copying the file would miss what still sits in the WAL).
 */
const config = loadConfig(process.env);
const destination = process.argv[2];
if (config.databaseUrl) {
  console.error('DATABASE_URL is PostgreSQL: back it up with pg_dump (see docs/deploy.md).');
  process.exit(2);
}
if (!destination) {
  console.error('Usage: npm run db:backup -- <destination file>');
  process.exit(2);
}
const database = openSqlite(config.databaseFile);
try {
  await database.writer.backup(path.resolve(destination));
  console.log(`Backed up ${config.databaseFile} to ${path.resolve(destination)}`);
} finally {
  await database.close();
}
