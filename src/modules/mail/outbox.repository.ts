import crypto from 'node:crypto';
import { and, count, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { emailOutbox, type OutboxRow } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import type { RenderedMail } from './mail.templates.js';

export function enqueueInTx(tx: Tx | Db, message: RenderedMail & { kind: string; to: string; now: Date; domain: string }): void {
  tx.insert(emailOutbox)
    .values({
      kind: message.kind,
      toAddress: message.to,
      subject: message.subject,
      textBody: message.text,
      htmlBody: message.html,
      // Stable per row, so a receiver can recognise a redelivery after a crash.
      messageId: `<${crypto.randomUUID()}@${message.domain}>`,
      status: 'pending',
      nextAttemptAt: message.now,
      createdAt: message.now,
    })
    .run();
}

export function createOutboxRepository(db: Db) {
  return {
    /**
     * Claims due rows for this worker: pending ones whose time has come, and rows whose
     * sender died mid-lease. One UPDATE … RETURNING, so two workers never claim one row.
     */
    claimDue(now: Date, limit: number, leaseMs: number): OutboxRow[] {
      const due = db
        .select({ id: emailOutbox.id })
        .from(emailOutbox)
        .where(
          or(
            and(eq(emailOutbox.status, 'pending'), lte(emailOutbox.nextAttemptAt, now)),
            and(eq(emailOutbox.status, 'sending'), lte(emailOutbox.lockedUntil, now)),
          ),
        )
        .orderBy(emailOutbox.nextAttemptAt, emailOutbox.id)
        .limit(limit);
      return db
        .update(emailOutbox)
        .set({ status: 'sending', lockedUntil: new Date(now.getTime() + leaseMs) })
        .where(inArray(emailOutbox.id, due))
        .returning()
        .all()
        .sort((a, b) => a.id - b.id);
    },
    markSent(id: number, now: Date): void {
      db.update(emailOutbox)
        .set({ status: 'sent', sentAt: now, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: null })
        .where(eq(emailOutbox.id, id))
        .run();
    },
    markRetry(id: number, error: string, nextAttemptAt: Date): void {
      db.update(emailOutbox)
        .set({ status: 'pending', nextAttemptAt, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
        .where(eq(emailOutbox.id, id))
        .run();
    },
    markFailed(id: number, error: string): void {
      db.update(emailOutbox)
        .set({ status: 'failed', lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
        .where(eq(emailOutbox.id, id))
        .run();
    },
    /** Hands claimed rows back untouched (the batch stopped at an outage). */
    release(ids: number[]): void {
      if (ids.length === 0) return;
      db.update(emailOutbox).set({ status: 'pending', lockedUntil: null }).where(inArray(emailOutbox.id, ids)).run();
    },
    counts(): Record<OutboxRow['status'], number> {
      const rows = db.select({ status: emailOutbox.status, n: count() }).from(emailOutbox).groupBy(emailOutbox.status).all();
      const result = { pending: 0, sending: 0, sent: 0, failed: 0 };
      for (const r of rows) result[r.status] = r.n;
      return result;
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
