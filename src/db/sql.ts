import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { Db } from './client.js';
import { engine } from './schema.js';

/**
 * The few places where the two engines' SQL differs, and raw SQL for the statements the
 * query builder cannot express (recursive CTEs, INSERT … SELECT … ON CONFLICT). Every
 * other query is written once with the builder and runs on both.
 */

interface PgLike {
  execute(query: SQL): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** Synchronous work (better-sqlite3) as a promise: a throw becomes a rejection, as in async code. */
export const settle = <T>(work: () => T): Promise<T> => new Promise((resolve) => resolve(work()));

/** Every row of a raw query; `q` is a connection or a transaction (one type, see client.ts). */
export async function rows<T>(q: Db, query: SQL): Promise<T[]> {
  if (engine === 'postgres') return (await (q as unknown as PgLike).execute(query)).rows as T[];
  return q.all<T>(query);
}

/** Runs a raw statement; returns how many rows it changed. */
export async function exec(q: Db, query: SQL): Promise<number> {
  if (engine === 'postgres') return (await (q as unknown as PgLike).execute(query)).rowCount ?? 0;
  return q.run(query).changes;
}

/** The UTC calendar day (YYYY-MM-DD) of an epoch-milliseconds column. */
export function dayOf(column: SQLWrapper): SQL<string> {
  return engine === 'postgres'
    ? sql<string>`to_char(to_timestamp(${column} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')`
    : sql<string>`strftime('%Y-%m-%d', ${column} / 1000, 'unixepoch')`;
}

/** A boolean column that is true (SQLite stores booleans as 0/1). */
export function isTrue(column: SQLWrapper): SQL {
  return engine === 'postgres' ? sql`${column} = true` : sql`${column} = 1`;
}

type SqlitePrepared = { all(params?: Record<string, unknown>): unknown; get(params?: Record<string, unknown>): unknown };
type Params = Record<string, unknown>;

let statementNames = 0;

/**
 * A statement built once and run many times with different parameters (hot read paths):
 * building a query costs more than running it. SQLite keeps it prepared on its
 * connection. PostgreSQL gets it as a named prepared statement, which node-postgres
 * prepares once on each pooled connection that runs it; after a few runs the server
 * keeps a generic plan, so a hot query is no longer planned on every request (planning
 * can cost more than running it). Each name stands for one statement text in this
 * process. Typed by the SQLite builder, like every query here.
 */
export function prepared<Q extends { prepare(): SqlitePrepared }>(
  query: Q,
): {
  all(params?: Params): Promise<ReturnType<ReturnType<Q['prepare']>['all']>>;
  get(params?: Params): Promise<ReturnType<ReturnType<Q['prepare']>['get']>>;
} {
  type All = ReturnType<ReturnType<Q['prepare']>['all']>;
  type Get = ReturnType<ReturnType<Q['prepare']>['get']>;
  if (engine === 'postgres') {
    const stmt = (query as unknown as { prepare(name?: string): { execute(params?: Params): Promise<unknown[]> } }).prepare(`hot_${++statementNames}`);
    return {
      all: async (params) => (await stmt.execute(params)) as All,
      get: async (params) => (await stmt.execute(params))[0] as Get,
    };
  }
  const stmt = query.prepare();
  return {
    all: (params) => settle(() => stmt.all(params) as All),
    get: (params) => settle(() => stmt.get(params) as Get),
  };
}

/**
 * Rows a worker is about to claim (the outbox): on PostgreSQL they are locked, and rows
 * another server has locked are skipped, so two servers never claim one row and neither
 * waits for the other. SQLite has a single writer, so there is nothing to add.
 */
export function skipLocked<Q>(query: Q): Q {
  if (engine !== 'postgres') return query;
  return (query as unknown as { for(strength: 'update', config: { skipLocked: boolean }): Q }).for('update', { skipLocked: true });
}

/**
 * Hot statements that differ by one integer key (a month), as `build(key)` makes them.
 *
 * SQLite, as better-sqlite3 compiles it (with STAT4), plans a statement again every time a
 * parameter it used to estimate an index range is bound anew, once ANALYZE has sampled
 * that index: about 15 µs a statement, more than running it. A key written into the text
 * is planned once. So on SQLite the statements are built once per key (a validated
 * integer, never text), the last `max` keys kept.
 *
 * PostgreSQL plans each named statement once per connection, and a statement per key
 * would prepare new ones on every pooled connection for every month anyone asks for:
 * there the statements are built once with the key as the placeholder `name`, which
 * callers pass with their other parameters (SQLite ignores it).
 */
export function perKey<T extends object>(name: string, max: number, build: (key: SQL) => T): (key: number) => T {
  if (engine === 'postgres') {
    const shared = build(sql`${sql.placeholder(name)}`);
    return () => shared;
  }
  const built = new LRUCache<number, T>({ max });
  return (key) => {
    if (!Number.isSafeInteger(key)) throw new TypeError(`A statement key must be an integer, not ${key}`);
    let made = built.get(key);
    if (!made) built.set(key, (made = build(sql.raw(String(key)))));
    return made;
  };
}
