import crypto from 'node:crypto';
import { and, count, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { emailOutbox, type OutboxRow } from '../../db/schema.js';
import { skipLocked } from '../../db/sql.js';
import type { Tx } from '../../db/client.js';
import type { RenderedMail } from './mail.templates.js';

export async function enqueueInTx(tx: Tx, message: RenderedMail & { kind: string; to: string; now: Date; domain: string }): Promise<void> {
  await tx.insert(emailOutbox).values({
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
  });
}

/**
 * The deliverer's side of the outbox. Each write is a unit of work of its own, through
 * `database.transaction` like every other write: `database.db` only reads (on SQLite it
 * is a second connection, which would otherwise wait on the writer's lock).
 */
export function createOutboxRepository(database: Database) {
  const { db } = database;
  return {
    /**
     * Claims due rows for this worker: pending ones whose time has come, and rows whose
     * sender died mid-lease. One UPDATE … RETURNING, so two workers never claim one row.
     */
    async claimDue(now: Date, limit: number, leaseMs: number): Promise<OutboxRow[]> {
      return database.transaction(async (tx) => {
        const due = skipLocked(
          tx
            .select({ id: emailOutbox.id })
            .from(emailOutbox)
            .where(
              or(
                and(eq(emailOutbox.status, 'pending'), lte(emailOutbox.nextAttemptAt, now)),
                and(eq(emailOutbox.status, 'sending'), lte(emailOutbox.lockedUntil, now)),
              ),
            )
            .orderBy(emailOutbox.nextAttemptAt, emailOutbox.id)
            .limit(limit),
        );
        const claimed = await tx
          .update(emailOutbox)
          .set({ status: 'sending', lockedUntil: new Date(now.getTime() + leaseMs) })
          .where(inArray(emailOutbox.id, due))
          .returning();
        return claimed.sort((a, b) => a.id - b.id);
      });
    },
    async markSent(id: number, now: Date): Promise<void> {
      await database.transaction(async (tx) => {
        await tx
          .update(emailOutbox)
          .set({ status: 'sent', sentAt: now, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: null })
          .where(eq(emailOutbox.id, id));
      });
    },
    async markRetry(id: number, error: string, nextAttemptAt: Date): Promise<void> {
      await database.transaction(async (tx) => {
        await tx
          .update(emailOutbox)
          .set({ status: 'pending', nextAttemptAt, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
          .where(eq(emailOutbox.id, id));
      });
    },
    async markFailed(id: number, error: string): Promise<void> {
      await database.transaction(async (tx) => {
        await tx
          .update(emailOutbox)
          .set({ status: 'failed', lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
          .where(eq(emailOutbox.id, id));
      });
    },
    /** Hands claimed rows back untouched (the batch stopped at an outage). */
    async release(ids: number[]): Promise<void> {
      if (ids.length === 0) return;
      await database.transaction(async (tx) => {
        await tx.update(emailOutbox).set({ status: 'pending', lockedUntil: null }).where(inArray(emailOutbox.id, ids));
      });
    },
    async counts(): Promise<Record<OutboxRow['status'], number>> {
      const rows = await db.select({ status: emailOutbox.status, n: count() }).from(emailOutbox).groupBy(emailOutbox.status);
      const result = { pending: 0, sending: 0, sent: 0, failed: 0 };
      for (const r of rows) result[r.status] = r.n;
      return result;
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
