import crypto from 'node:crypto';
import { and, count, eq, gt, inArray, lt, lte, ne, or, sql } from 'drizzle-orm';
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
    /*
     * The writes below that finish a send take the claim's `lockedUntil` and change the
     * row only while that claim still holds it: a worker whose lease ran out (and whose
     * row another worker has claimed since) finds nothing to update. Each claim of a row
     * sets a later `lockedUntil` than the one before, so it identifies the claim. They
     * answer whether the row was still theirs.
     */
    async markSent(id: number, now: Date, claim: Date): Promise<boolean> {
      return database.transaction(async (tx) => {
        const changed = await tx
          .update(emailOutbox)
          .set({ status: 'sent', sentAt: now, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: null })
          .where(heldBy(id, claim))
          .returning({ id: emailOutbox.id });
        return changed.length > 0;
      });
    },
    async markRetry(id: number, error: string, nextAttemptAt: Date, claim: Date): Promise<boolean> {
      return database.transaction(async (tx) => {
        const changed = await tx
          .update(emailOutbox)
          .set({ status: 'pending', nextAttemptAt, lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
          .where(heldBy(id, claim))
          .returning({ id: emailOutbox.id });
        return changed.length > 0;
      });
    },
    async markFailed(id: number, error: string, claim: Date): Promise<boolean> {
      return database.transaction(async (tx) => {
        const changed = await tx
          .update(emailOutbox)
          .set({ status: 'failed', lockedUntil: null, attempts: sql`${emailOutbox.attempts} + 1`, lastError: error })
          .where(heldBy(id, claim))
          .returning({ id: emailOutbox.id });
        return changed.length > 0;
      });
    },
    /** Hands claimed rows back untouched (the batch stopped at an outage or its lease runs out). */
    async release(ids: number[], claim: Date): Promise<void> {
      if (ids.length === 0) return;
      await database.transaction(async (tx) => {
        await tx
          .update(emailOutbox)
          .set({ status: 'pending', lockedUntil: null })
          .where(and(inArray(emailOutbox.id, ids), eq(emailOutbox.status, 'sending'), eq(emailOutbox.lockedUntil, claim)));
      });
    },
    /**
     * Empties the bodies of up to `limit` rows sent before `before`, with ids above
     * `afterId`; the row (status, times, address) stays, so counts and history do not
     * change. The rows are found on the read connection and only the UPDATE by primary
     * key runs in the unit of work, so on SQLite the write lock is held for `limit` row
     * writes at most, however many rows the search reads. Returns how many rows the
     * search found (fewer than `limit`: nothing more to do) and the last id, to go on from.
     */
    async pruneSentBodies(before: Date, afterId: number, limit: number): Promise<{ found: number; lastId: number }> {
      const old = and(eq(emailOutbox.status, 'sent'), lt(emailOutbox.sentAt, before));
      const found = await db
        .select({ id: emailOutbox.id })
        .from(emailOutbox)
        .where(and(old, gt(emailOutbox.id, afterId), or(ne(emailOutbox.textBody, ''), ne(emailOutbox.htmlBody, ''))))
        .orderBy(emailOutbox.id)
        .limit(limit);
      const ids = found.map((r) => r.id);
      if (ids.length > 0) {
        await database.transaction(async (tx) => {
          await tx
            .update(emailOutbox)
            .set({ textBody: '', htmlBody: '' })
            .where(and(inArray(emailOutbox.id, ids), old));
        });
      }
      return { found: ids.length, lastId: ids.at(-1) ?? afterId };
    },
    async counts(): Promise<Record<OutboxRow['status'], number>> {
      const rows = await db.select({ status: emailOutbox.status, n: count() }).from(emailOutbox).groupBy(emailOutbox.status);
      const result = { pending: 0, sending: 0, sent: 0, failed: 0 };
      for (const r of rows) result[r.status] = r.n;
      return result;
    },
  };
}

/** The row, while the claim that set `lockedUntil` to `claim` still holds it. */
function heldBy(id: number, claim: Date) {
  return and(eq(emailOutbox.id, id), eq(emailOutbox.status, 'sending'), eq(emailOutbox.lockedUntil, claim));
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
