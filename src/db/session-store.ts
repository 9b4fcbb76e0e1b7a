import session from 'express-session';
import type { SessionData } from 'express-session';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Tx } from './client.js';
import { sessions } from './schema.js';
import { deleteInBatches, type Database } from './database.js';
import { prepared } from './sql.js';

type Callback<T = void> = (err?: unknown, value?: T) => void;

export interface SessionRow {
  sid: string;
  userId: number | null;
  expiresAt: number;
  data: string;
}

/**
 * Stores a session row inside the caller's unit of work: how the store saves one, and
 * how a sign-up stores the new account's session in the transaction that creates the
 * account, so that an account never exists without the session it was promised.
 */
export async function writeSessionInTx(tx: Tx, row: SessionRow): Promise<void> {
  await tx
    .insert(sessions)
    .values(row)
    .onConflictDoUpdate({
      target: sessions.sid,
      set: { userId: sql`excluded.user_id`, expiresAt: sql`excluded.expires_at`, data: sql`excluded.data` },
    });
}

const PRUNE_BATCH = 5000;

export interface SessionStoreOptions {
  defaultMaxAgeMs: number;
  now?: () => number;
  /** Prunes at once and then every so often; unset (tests): only when `prune` is called. */
  pruneIntervalMs?: number;
  /** Other expired rows to delete on the same schedule (the rate-limit counters). */
  alsoPrune?: ReadonlyArray<() => Promise<unknown>>;
  /** Where a failed background prune is reported; it is retried at the next interval. */
  onPruneError?: (err: unknown) => void;
}

/** Answers an express-session callback from a promise. */
function settle<T>(work: Promise<T>, cb?: Callback<T>): void {
  void work.then(
    (value) => cb?.(null, value),
    (err: unknown) => cb?.(err),
  );
}

/**
 * express-session store over the app's database. It has no `touch`: sessions have a
 * fixed lifetime (rolling is off), so a page view costs no write. Each row carries the user id taken
 * from the session so that every session of a user can be revoked in one statement
 * (password change, disabled account) and survives restarts and worker processes.
 * Reads use `database.db`; writes are units of work of their own, in `database.transaction`.
 *
 * Only logins create sessions (forms use a CSRF cookie, see http/csrf.ts), so a row
 * without a user is a leftover of the per-form sessions older versions stored for every
 * visitor: `prune` deletes those with the expired ones, on both engines.
 */
export class SessionStore extends session.Store {
  // Every request with a session cookie reads its row: prepared once.
  private readonly getStmt;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<void> | undefined;

  constructor(
    private readonly database: Database,
    private readonly options: SessionStoreOptions,
  ) {
    super();
    const now = sql.placeholder('now');
    this.getStmt = prepared(
      database.db
        .select({ data: sessions.data })
        .from(sessions)
        .where(and(eq(sessions.sid, sql.placeholder('sid')), sql`${sessions.expiresAt} > ${now}`)),
    );

    if (options.pruneIntervalMs) {
      this.pruneInBackground();
      this.pruneTimer = setInterval(() => this.pruneInBackground(), options.pruneIntervalMs);
      this.pruneTimer.unref();
    }
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  private expiryOf(sess: SessionData): number {
    const expires = sess.cookie?.expires;
    if (expires) return new Date(expires).getTime();
    return this.now() + this.options.defaultMaxAgeMs;
  }

  override get(sid: string, cb: Callback<SessionData | null>): void {
    settle(this.readSession(sid), cb);
  }

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    settle(this.writeSession(sid, sess), cb);
  }

  override destroy(sid: string, cb?: Callback): void {
    settle(this.deleteSession(sid), cb);
  }

  private async readSession(sid: string): Promise<SessionData | null> {
    const row = await this.getStmt.get({ sid, now: this.now() });
    return row ? (JSON.parse(row.data) as SessionData) : null;
  }

  private async writeSession(sid: string, sess: SessionData): Promise<void> {
    // Taken before the unit of work waits for its turn: the expiry is that of the request.
    const row = this.rowOf(sid, sess);
    await this.database.transaction((tx) => writeSessionInTx(tx, row));
  }

  /** The row a session is stored as (see writeSessionInTx). */
  rowOf(sid: string, sess: SessionData): SessionRow {
    return { sid, userId: sess.userId ?? null, expiresAt: this.expiryOf(sess), data: JSON.stringify(sess) };
  }

  private async deleteSession(sid: string): Promise<void> {
    await this.database.transaction(async (tx) => {
      await tx.delete(sessions).where(eq(sessions.sid, sid));
    });
  }

  /**
   * Deletes expired sessions and sessions without a user, then runs `alsoPrune`. Returns
   * how many sessions went. Batches, each a unit of work of its own, keep the SQLite writer
   * free for requests even when there are millions to delete.
   */
  async prune(): Promise<number> {
    const total = await deleteInBatches(this.database, sessions, sessions.sid, or(lt(sessions.expiresAt, this.now()), isNull(sessions.userId)), PRUNE_BATCH);
    for (const task of this.options.alsoPrune ?? []) await task();
    return total;
  }

  /** `prune` at start and on the interval: one at a time, failures reported, never thrown. */
  pruneInBackground(): void {
    if (this.pruning) return;
    this.pruning = this.prune().then(
      () => undefined,
      (err: unknown) => this.options.onPruneError?.(err),
    );
    void this.pruning.finally(() => {
      this.pruning = undefined;
    });
  }

  close(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: number;
  }
}
