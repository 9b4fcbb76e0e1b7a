import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Mutex } from 'async-mutex';
import { inArray, type SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { Db, Tx } from './client.js';
import { isRetryable } from './errors.js';
import { settle } from './sql.js';
import { useEngine, type Dialect } from './schema.js';
import * as schema from './schema.sqlite.js';

export type { Dialect } from './schema.js';

/**
 * The one door to the database, the same for both engines. Services open every unit of
 * work with `transaction(async (tx) => …)` and pass `tx` to the repositories; reads that
 * need no unit of work use `db`. Only this folder knows which engine is behind it.
 */
export interface Database {
  readonly dialect: Dialect;
  /** Units of work this process has committed: a cheap "did I change anything" clock. */
  readonly commits: number;
  /** Reads outside any unit of work: they see committed data only. */
  readonly db: Db;
  /** One unit of work: committed when `work` resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Answers when the database can be read and written (for /healthz): a one-row unit of
   * work that commits, so a full disk, a read-only file or a lost server shows here.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** SQLite's Database, with the writer connection for migrations and the seed. */
export interface SqliteDatabase extends Database {
  readonly writer: BetterSqlite3.Database;
}

/** Pragmas every SQLite connection needs (see openSqlite). */
function connect(file: string): BetterSqlite3.Database {
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // 32 MB of page cache (the default is 2 MB): at a million users the hot index pages
  // stay in memory instead of costing a read() each.
  sqlite.pragma('cache_size = -32768');
  return sqlite;
}

/**
 * One mutex per database file in this process: two Database objects over one file (a
 * test standing up a second "worker") must not interleave their units of work either,
 * or one would block the event loop on the file lock that the other holds.
 */
const writerMutexes = new Map<string, Mutex>();
function writerMutex(file: string): Mutex {
  if (file === ':memory:') return new Mutex();
  const key = path.resolve(file);
  let mutex = writerMutexes.get(key);
  if (!mutex) {
    mutex = new Mutex();
    writerMutexes.set(key, mutex);
  }
  return mutex;
}

/**
 * SQLite through better-sqlite3, whose calls are synchronous, behind the async interface.
 *
 * The pitfall: a unit of work awaits between its statements, and in that gap another
 * request's code may run. On one connection its statements would land inside the open
 * transaction (reading uncommitted rows, or committing with it). So:
 * - every unit of work runs on the writer connection, one at a time (a mutex; SQLite
 *   allows one writer anyway, and worker processes queue on the file lock as before);
 * - reads outside a unit of work use a second connection, which in WAL mode sees only
 *   committed data and never waits for the writer.
 * An in-memory database cannot be shared by two connections, so there one serves both.
 */
export function openSqlite(file: string): SqliteDatabase {
  useEngine('sqlite');
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const writer = connect(file);
  const reader = file === ':memory:' ? writer : connect(file);
  const writeDb: Db = drizzle(writer, { schema });
  const readDb: Db = file === ':memory:' ? writeDb : drizzle(reader, { schema });
  const mutex = writerMutex(file);
  let commits = 0;

  return {
    dialect: 'sqlite',
    get commits() {
      return commits;
    },
    db: readDb,
    writer,
    transaction: <T>(work: (tx: Tx) => Promise<T>) =>
      mutex.runExclusive(async () => {
        // IMMEDIATE takes the write lock now, so two processes never both read and then
        // fail to upgrade to writing (SQLITE_BUSY without waiting for the busy timeout).
        writer.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(writeDb);
          writer.exec('COMMIT');
          commits += 1;
          return result;
        } catch (err) {
          if (writer.inTransaction) writer.exec('ROLLBACK');
          throw err;
        }
      }),
    ping: () => mutex.runExclusive(() => settle(() => void writer.prepare(HEALTH_PROBE).run())),
    close: async () => {
      await mutex.waitForUnlock();
      if (reader !== writer) reader.close();
      writer.close();
    },
  };
}

/**
 * The health probe, the same statement on both engines: one committed write, a counter in
 * an app_state row nothing else reads.
 */
const HEALTH_PROBE = "insert into app_state (key, value) values ('health_probe', 1) on conflict (key) do update set value = app_state.value % 1000000 + 1";

/** PostgreSQL's Database, with its pool (for the rate-limit store and LISTEN). */
export interface PostgresDatabase extends Database {
  readonly pool: pg.Pool;
}

// bigint (int8) arrives as a string by default: every bigint here is an epoch-ms time or a
// count well inside 2^53, so numbers are exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * PostgreSQL through node-postgres: a pool of connections, each unit of work on one of
 * them (Drizzle's transaction), reads on any. Several app servers can share the database;
 * row locks and conditional updates keep every rule exact across them.
 */
export function openPostgres(url: string, options: { max?: number } = {}): PostgresDatabase {
  useEngine('postgres');
  // A request waits at most 5 s for a connection: with the server gone it gets a 503
  // (see storageFault) instead of hanging.
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: 5_000 });
  // An idle client that errors (the server restarted) is dropped by the pool; without a
  // listener the error would crash the process.
  pool.on('error', () => {});
  const db = drizzlePg(pool) as unknown as Db;
  let commits = 0;
  return {
    dialect: 'postgres',
    get commits() {
      return commits;
    },
    db,
    pool,
    transaction: async <T>(work: (tx: Tx) => Promise<T>): Promise<T> => {
      // Two units of work that lock the same rows in opposite orders deadlock; PostgreSQL
      // aborts one, which then simply runs again (it changed nothing).
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await (db as unknown as ReturnType<typeof drizzlePg>).transaction((tx) => work(tx as unknown as Tx));
          commits += 1;
          return result;
        } catch (err) {
          if (attempt >= 5 || !isRetryable(err)) throw err;
        }
      }
    },
    ping: async () => {
      await pool.query(HEALTH_PROBE);
    },
    close: async () => {
      // Idempotent: a shutdown path and a test may both close it.
      if (!pool.ended) await pool.end();
    },
  };
}

/** Either engine's Database, as the app and its tools receive it. */
export type AppDatabase = SqliteDatabase | PostgresDatabase;

/** The engine the configuration names: DATABASE_URL (PostgreSQL) or DATABASE_FILE (SQLite). */
export function openDatabase(config: { databaseUrl?: string; databaseFile: string }): AppDatabase {
  return config.databaseUrl ? openPostgres(config.databaseUrl) : openSqlite(config.databaseFile);
}

/**
 * Deletes the rows of `table` matching `where`, `batch` at a time, each batch a unit of
 * work of its own, so the SQLite writer stays free for requests even when millions go
 * (the session and rate-limit prunes). Returns how many rows were deleted.
 */
export async function deleteInBatches(database: Database, table: SQLiteTable, key: SQLiteColumn, where: SQL | undefined, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await database.transaction(async (tx) => {
      const keys = tx.select({ key }).from(table).where(where).limit(batch);
      return (await tx.delete(table).where(inArray(key, keys)).returning({ key })).length;
    });
    total += deleted;
    if (deleted < batch) return total;
  }
}
