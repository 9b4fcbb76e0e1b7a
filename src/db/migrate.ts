import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { migrationsDir } from '../paths.js';
import type { Db } from './client.js';

/** Applies every migration in migrations/ that this database has not seen yet. */
export function runMigrations(db: Db): void {
  migrate(db, { migrationsFolder: migrationsDir });
}
