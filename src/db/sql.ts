import type { SQL } from 'drizzle-orm';
import type { Db, Tx } from './client.js';

/**
 * Raw SQL for the few statements the query builder cannot express (recursive CTEs,
 * INSERT … SELECT … ON CONFLICT). Portable SQL only; engine differences stay in db/.
 */
export async function rows<T>(q: Db | Tx, query: SQL): Promise<T[]> {
  return q.all<T>(query);
}

/** Runs a raw statement; returns how many rows it changed. */
export async function exec(q: Tx, query: SQL): Promise<number> {
  return q.run(query).changes;
}
