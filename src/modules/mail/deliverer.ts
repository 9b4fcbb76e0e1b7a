import type { Logger } from 'pino';
import { createPollingLoop, type PassResult } from '../../polling-loop.js';
import { DAY_MS, type Clock } from '../../clock.js';
import type { OutboxRow } from '../../db/schema.js';
import type { OutboxRepository } from './outbox.repository.js';
import { isConnectionFailure, isPermanent, SMTP_TIMEOUT_MS, type MailTransport } from './transport.js';

/**
 * Retry schedule while the mail server cannot be reached (refused, timed out, DNS):
 * 1, 2, 4, 8, 16, then every 30 seconds. The cap is short on purpose: after an outage
 * of any length, the next attempt is at most 30 s after the server is back. A message
 * still undelivered 72 hours after it was written is marked failed.
 */
export const RETRY_BASE_MS = 1_000;
export const RETRY_CAP_MS = 30_000;
export const GIVE_UP_AFTER_MS = 72 * 60 * 60 * 1000;

export function retryDelayMs(attempt: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

/**
 * Retry schedule of one message the server deferred (a 4xx reply to its sender, recipient
 * or content: greylisting, a full mailbox): it doubles from one second like the outage
 * schedule, but up to 10 minutes, so a mailbox that stays full is not asked twice a
 * minute for three days. Only that message waits; the others go on.
 */
export const MESSAGE_RETRY_CAP_MS = 10 * 60_000;

export function messageRetryDelayMs(attempt: number): number {
  return Math.min(MESSAGE_RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

/**
 * A claim is a lease of 20 s: if the worker holding it dies, another worker claims the
 * rows when it ends, so they go out within about 21 s (the lease and one poll).
 */
export const LEASE_MS = 20_000;
/** Lease left over after a send's deadline, for writing its outcome. */
export const LEASE_MARGIN_MS = 2_000;
/** Bodies of sent messages are emptied after the retention, checked this often. */
export const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Rows per pruning statement, so a statement never holds the SQLite write lock long. */
export const PRUNE_CHUNK = 1_000;

export interface DelivererOptions {
  repo: OutboxRepository;
  transport: MailTransport;
  clock: Clock;
  logger: Logger;
  from: string;
  pollMs?: number;
  batchSize?: number;
  leaseMs?: number;
  /** Days a sent message keeps its text and HTML bodies (its row stays for the counts). */
  retentionDays?: number;
}

/**
 * Sends what the outbox holds, in the background of each app process. Rows are claimed
 * with a lease, so several workers share the work without sending a row twice; a row
 * is marked sent right after the server accepts it. (Only a crash between those two
 * steps, or a send that outlives its lease, can repeat a message: the cost of never
 * losing one.)
 *
 * A failure is judged by what it concerns. The server being unreachable concerns every
 * message: the loop pauses (1 s doubling to 30 s) and hands back the rest of the batch.
 * A message refused for now (4xx) waits on its own schedule and the batch goes on with
 * the next row; refused for good (5xx) it is marked failed at once.
 */
export function createDeliverer(options: DelivererOptions) {
  const { repo, transport, clock, logger, from } = options;
  const pollMs = options.pollMs ?? 1_000;
  const batchSize = options.batchSize ?? 20;
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const retentionMs = (options.retentionDays ?? 30) * DAY_MS;
  // A send fails after the transport's deadline (SMTP: 10 s). A batch of 20 sends in a
  // row could still outlive one lease, so rather than renew it, each send starts only
  // while its deadline and a margin fit in what is left of the lease; the rows left
  // when that is no longer so are handed back for the next pass, and the markSent of a
  // send that did outlive its lease (a clock jump) changes nothing (see the repository).
  const sendBudgetMs = (transport.timeoutMs ?? SMTP_TIMEOUT_MS) + LEASE_MARGIN_MS;
  if (leaseMs <= sendBudgetMs) throw new Error(`leaseMs (${leaseMs}) must exceed the send timeout plus ${LEASE_MARGIN_MS} ms`);

  const loop = createPollingLoop({ batch: () => deliverBatch(), pollMs, logger, name: 'outbox delivery' });
  // While the server is unreachable, pause the whole loop rather than try every row.
  let outageFailures = 0;
  let pausedUntil = 0;
  // Pruning runs on the first pass, then at most once an hour.
  let pruneAt = 0;

  /** A write that found the row claimed by another worker: this lease ran out first. */
  function leaseLost(row: OutboxRow): void {
    logger.warn({ outboxId: row.id }, 'email lease expired before its outcome was written; another worker owns it');
  }

  /** Sends one claimed row; 'outage' when the server could not be used (the batch stops). */
  async function deliver(row: OutboxRow, claim: Date): Promise<'sent' | 'unsent' | 'outage'> {
    try {
      await transport.send({ from, to: row.toAddress, subject: row.subject, text: row.textBody, html: row.htmlBody, messageId: row.messageId });
    } catch (err) {
      const message = err instanceof Error ? err.message.slice(0, 500) : String(err);
      const attempt = row.attempts + 1;
      const now = clock.now().getTime();
      const log = { outboxId: row.id, kind: row.kind, attempt, err: message };
      const outage = isConnectionFailure(err);
      if (outage) {
        outageFailures += 1;
        pausedUntil = now + retryDelayMs(outageFailures);
      }
      if ((isPermanent(err) && !outage) || now - row.createdAt.getTime() >= GIVE_UP_AFTER_MS) {
        if (await repo.markFailed(row.id, message, claim)) logger.error(log, 'email failed permanently');
        else leaseLost(row);
      } else {
        // The row's own backoff, in an outage too: a message that breaks the connection
        // every time must not stay first in line.
        const delay = outage ? retryDelayMs(attempt) : messageRetryDelayMs(attempt);
        if (await repo.markRetry(row.id, message, new Date(now + delay), claim)) {
          logger.warn({ ...log, retryInMs: delay }, outage ? 'mail server unreachable; delivery paused' : 'email deferred; will retry');
        } else leaseLost(row);
      }
      return outage ? 'outage' : 'unsent';
    }
    outageFailures = 0;
    if (await repo.markSent(row.id, clock.now(), claim)) return 'sent';
    leaseLost(row);
    return 'unsent';
  }

  async function deliverBatch(): Promise<PassResult> {
    const now = clock.now();
    let sent = 0;
    let full = false;
    if (now.getTime() >= pausedUntil) {
      const batch = await repo.claimDue(now, batchSize, leaseMs);
      full = batch.length === batchSize;
      for (let i = 0; i < batch.length; i++) {
        const row = batch[i]!;
        // One UPDATE claimed the batch: every row has the same lockedUntil.
        const claim = row.lockedUntil!;
        // A stop hands the rest back at once (another worker sends it), so a shutdown
        // waits for one send at most, never a whole batch.
        if (loop.stopping() || clock.now().getTime() + sendBudgetMs > claim.getTime()) {
          await repo.release(
            batch.slice(i).map((r) => r.id),
            claim,
          );
          // Nothing sent (the claim itself was slow): wait for the next tick, do not spin.
          if (i === 0) full = false;
          break;
        }
        const outcome = await deliver(row, claim);
        if (outcome === 'sent') sent += 1;
        if (outcome === 'outage') {
          await repo.release(
            batch.slice(i + 1).map((r) => r.id),
            claim,
          );
          full = false;
          break;
        }
      }
    }
    if (now.getTime() >= pruneAt) {
      pruneAt = now.getTime() + PRUNE_EVERY_MS;
      try {
        await prune(new Date(now.getTime() - retentionMs));
      } catch (err) {
        logger.error({ err }, 'outbox pruning failed');
      }
    }
    return { sent, full };
  }

  /** Empties the bodies of messages sent before `before`, a chunk per statement. */
  async function prune(before: Date): Promise<void> {
    let afterId = 0;
    let emptied = 0;
    while (!loop.stopping()) {
      const { found, lastId } = await repo.pruneSentBodies(before, afterId, PRUNE_CHUNK);
      emptied += found;
      afterId = lastId;
      if (found < PRUNE_CHUNK) break;
    }
    if (emptied > 0) logger.info({ emptied, before }, 'emptied the bodies of sent emails past their retention');
  }

  return { runOnce: () => loop.runOnce(), start: () => loop.start(), stop: () => loop.stop() };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
