import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Opens the SQLite file with the pragmas every connection needs: WAL so readers never wait
 * for the writer, foreign keys enforced, and a busy timeout so several worker processes
 * queue for the write lock instead of failing.
 */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // 32 MB of page cache (the default is 2 MB): at a million users the hot index pages
  // stay in memory instead of costing a read() each.
  sqlite.pragma('cache_size = -32768');
  return drizzle(sqlite, { schema });
}


/** A transaction handle: repositories take it so that the service owns the unit of work. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
