import session from 'express-session';
import type { SessionData } from 'express-session';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { sessions } from './schema.js';
import { prepared } from './sql.js';

type Callback<T = void> = (err?: unknown, value?: T) => void;

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
 */
export class SessionStore extends session.Store {
  // Every request with a session cookie reads its row: prepared once.
  private readonly getStmt;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: Database,
    private readonly options: { defaultMaxAgeMs: number; now?: () => number; pruneIntervalMs?: number },
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
      // A failed prune surfaces as an unhandled rejection, as the synchronous version's throw did.
      this.pruneTimer = setInterval(() => void this.prune(), options.pruneIntervalMs);
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
    const row = { sid, userId: sess.userId ?? null, expiresAt: this.expiryOf(sess), data: JSON.stringify(sess) };
    await this.database.transaction(async (tx) => {
      await tx
        .insert(sessions)
        .values(row)
        .onConflictDoUpdate({
          target: sessions.sid,
          set: { userId: sql`excluded.user_id`, expiresAt: sql`excluded.expires_at`, data: sql`excluded.data` },
        });
    });
  }

  private async deleteSession(sid: string): Promise<void> {
    await this.database.transaction(async (tx) => {
      await tx.delete(sessions).where(eq(sessions.sid, sid));
    });
  }

  /** Deletes expired rows; run at start and on an interval. Returns how many. */
  async prune(): Promise<number> {
    const now = this.now();
    return this.database.transaction(async (tx) => {
      const deleted = await tx.delete(sessions).where(lt(sessions.expiresAt, now)).returning({ sid: sessions.sid });
      return deleted.length;
    });
  }

  close(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    csrfToken?: string;
  }
}
