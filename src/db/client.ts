import type Database from 'better-sqlite3';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type * as schema from './schema.sqlite.js';

/** A Drizzle instance over the app's schema: `Database.db` for reads. */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * The handle of one unit of work, from `Database.transaction`. Repositories take it so
 * that the service owns the transaction; it is typed as a Drizzle instance because that
 * is what it is (on SQLite, the writer connection with the transaction open).
 */
export type Tx = Db;
