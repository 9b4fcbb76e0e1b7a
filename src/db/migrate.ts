import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { migrationsDir } from '../paths.js';
import { openSqlite, type SqliteDatabase } from './database.js';

/**
 * Applies every migration in migrations/ that this database has not seen yet. Runs on
 * the writer connection before the app serves anything (start-up, `npm run db:migrate`,
 * each test's fresh database).
 */
export function runMigrations(database: SqliteDatabase): void {
  migrate(drizzle(database.writer), { migrationsFolder: migrationsDir });
}

/** Opens the file, migrates it and closes it. */
export async function migrateFile(file: string): Promise<void> {
  const database = openSqlite(file);
  try {
    runMigrations(database);
  } finally {
    await database.close();
  }
}
