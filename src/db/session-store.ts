import session from 'express-session';
import type { SessionData } from 'express-session';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { sessions } from './schema.js';

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * express-session store over the app's SQLite file. It has no `touch`: sessions have a
 * fixed lifetime (rolling is off), so a page view costs no write. Each row carries the user id taken
 * from the session so that every session of a user can be revoked in one statement
 * (password change, disabled account) and survives restarts and worker processes.
 */
export class SqliteSessionStore extends session.Store {
  private readonly getStmt;
  private readonly upsertStmt;
  private readonly destroyStmt;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: { defaultMaxAgeMs: number; now?: () => number; pruneIntervalMs?: number },
  ) {
    super();
    const now = sql.placeholder('now');
    this.getStmt = db
      .select({ data: sessions.data })
      .from(sessions)
      .where(and(eq(sessions.sid, sql.placeholder('sid')), sql`${sessions.expiresAt} > ${now}`))
      .prepare();
    this.upsertStmt = db
      .insert(sessions)
      .values({
        sid: sql.placeholder('sid'),
        userId: sql.placeholder('userId'),
        expiresAt: sql.placeholder('expiresAt'),
        data: sql.placeholder('data'),
      })
      .onConflictDoUpdate({
        target: sessions.sid,
        set: { userId: sql`excluded.user_id`, expiresAt: sql`excluded.expires_at`, data: sql`excluded.data` },
      })
      .prepare();
    this.destroyStmt = db.delete(sessions).where(eq(sessions.sid, sql.placeholder('sid'))).prepare();

    if (options.pruneIntervalMs) {
      this.pruneTimer = setInterval(() => this.prune(), options.pruneIntervalMs);
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
    try {
      const row = this.getStmt.get({ sid, now: this.now() });
      cb(null, row ? (JSON.parse(row.data) as SessionData) : null);
    } catch (err) {
      cb(err);
    }
  }

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    try {
      this.upsertStmt.run({
        sid,
        userId: sess.userId ?? null,
        expiresAt: this.expiryOf(sess),
        data: JSON.stringify(sess),
      });
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  override destroy(sid: string, cb?: Callback): void {
    try {
      this.destroyStmt.run({ sid });
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  /** Deletes expired rows; run at start and on an interval. */
  prune(): number {
    return this.db.delete(sessions).where(lt(sessions.expiresAt, this.now())).run().changes;
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
