import type { Logger } from 'pino';
import { createPollingLoop, type PassResult } from '../../polling-loop.js';
import { DAY_MS, type Clock } from '../../clock.js';
import type { Database } from '../../db/database.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../db/schema.js';
import { auditInTx } from '../audit/audit.repository.js';
import type { Notifications } from '../mail/notifications.js';
import type { AttemptResult, Sender } from './sender.js';
import { signedHeaders } from './signing.js';
import type { WebhooksRepository } from './webhooks.repository.js';

/**
 * Retry schedule after a failed attempt (non-2xx, no answer, refused): the first retry
 * comes 5 s later, then 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h. A
 * receiver that was down for a moment gets the event at once; one down for a day is not
 * asked every minute. Retries stop 3 days after the delivery was written: the last one is
 * made at exactly that mark, and if it fails too the delivery is marked failed.
 */
export const RETRY_DELAYS_MS = [5_000, 30_000, 2 * 60_000, 10 * 60_000, 30 * 60_000, 60 * 60_000, 3 * 60 * 60_000, 6 * 60 * 60_000];
export const RETRY_CAP_MS = 12 * 60 * 60_000;
export const GIVE_UP_AFTER_MS = 3 * DAY_MS;
/** An endpoint failing for this long without a single success is disabled, and admins are told. */
export const DISABLE_AFTER_MS = 3 * DAY_MS;

export function retryDelayMs(attempt: number): number {
  return RETRY_DELAYS_MS[attempt - 1] ?? RETRY_CAP_MS;
}

/** A claim is a lease: rows of a worker that died are claimed again when it ends. */
export const LEASE_MS = 30_000;
/** Lease left over after an attempt's deadline, for writing its outcome. */
export const LEASE_MARGIN_MS = 2_000;

export interface WebhookDelivererOptions {
  database: Database;
  repo: WebhooksRepository;
  sender: Sender;
  clock: Clock;
  logger: Logger;
  notifications: Notifications;
  pollMs?: number;
  batchSize?: number;
  leaseMs?: number;
}

/**
 * Sends the webhook outbox in the background of each app process. Rows are claimed
 * with a lease, so several servers share the work and each row is sent by one of them;
 * the rows of a batch are sent concurrently, so one receiver that hangs costs the batch
 * one timeout, not one per row. A row is marked sent right after its 2xx: only a crash
 * between the two, or an attempt that outlives its lease, sends it again (with the same
 * `webhook-id`, which is what receivers deduplicate on).
 */
export function createWebhookDeliverer(options: WebhookDelivererOptions) {
  const { database, repo, sender, clock, logger, notifications } = options;
  const pollMs = options.pollMs ?? 1_000;
  const batchSize = options.batchSize ?? 50;
  const leaseMs = options.leaseMs ?? LEASE_MS;
  // Every send of a batch starts at once and ends by its deadline: the batch fits in one
  // lease when the deadline and the margin do. A batch claimed too late for that (a slow
  // claim, a clock jump) is handed back for the next pass.
  const sendBudgetMs = sender.timeoutMs + LEASE_MARGIN_MS;
  if (leaseMs <= sendBudgetMs) throw new Error(`leaseMs (${leaseMs}) must exceed the send timeout plus ${LEASE_MARGIN_MS} ms`);

  const loop = createPollingLoop({ batch: () => deliverBatch(), pollMs, logger, name: 'webhook delivery' });

  function leaseLost(row: WebhookDelivery): void {
    logger.warn({ deliveryId: row.id }, 'webhook delivery no longer held when its outcome was written (lease expired, or the endpoint was deleted)');
  }

  async function recordSuccess(row: WebhookDelivery, claim: Date, statusCode: number): Promise<boolean> {
    return database.transaction(async (tx) => {
      if (!(await repo.finishInTx(tx, row.id, claim, { status: 'sent', statusCode, at: clock.now() }))) return false;
      await repo.markHealthyInTx(tx, row.endpointId);
      return true;
    });
  }

  /**
   * A failed attempt: the row waits for its next retry or, past its 3 days, fails; the
   * endpoint's failure streak starts or goes on, and after 3 days of it the endpoint is
   * disabled in the same transaction, with its audit row and the admins' email.
   */
  async function recordFailure(row: WebhookDelivery, endpoint: WebhookEndpoint, claim: Date, result: Extract<AttemptResult, { ok: false }>): Promise<boolean> {
    const now = clock.now();
    return database
      .transaction(async (tx) => {
        const failing = await repo.markFailingInTx(tx, endpoint.id, now);
        const disable = failing?.status === 'active' && now.getTime() - failing.failingSince!.getTime() >= DISABLE_AFTER_MS;
        const giveUp = disable || failing?.status !== 'active' || now.getTime() - row.createdAt.getTime() >= GIVE_UP_AFTER_MS;
        const lastChance = row.createdAt.getTime() + GIVE_UP_AFTER_MS;
        const finish = giveUp
          ? { status: 'failed' as const, statusCode: result.statusCode, error: result.error, attempted: true }
          : {
              status: 'pending' as const,
              statusCode: result.statusCode,
              error: result.error,
              attempted: true,
              nextAttemptAt: new Date(Math.min(now.getTime() + retryDelayMs(row.attempts + 1), lastChance)),
            };
        // A lost lease rolls back the streak too: the worker that owns the row now records its own attempt.
        if (!(await repo.finishInTx(tx, row.id, claim, finish))) throw new LeaseLost();
        if (disable && (await repo.setStatusInTx(tx, endpoint.id, 'disabled', now))) {
          const dropped = await repo.failPendingInTx(tx, endpoint.id, 'Not sent: the endpoint was disabled after failing for 3 days.');
          await auditInTx(tx, {
            actorId: null,
            action: 'webhook.auto_disable',
            targetType: 'webhook_endpoint',
            targetId: endpoint.id,
            details: { url: endpoint.url, failingSince: failing.failingSince, lastError: result.error.slice(0, 200), undelivered: dropped },
            now,
          });
          await notifications.webhookDisabled(tx, { id: endpoint.id, url: endpoint.url, failingSince: failing.failingSince!, lastError: result.error }, now);
          logger.warn({ endpointId: endpoint.id, url: endpoint.url }, 'webhook endpoint disabled after 3 days of failures');
        }
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof LeaseLost) return false;
        throw err;
      });
  }

  /** One claimed row; true when it was delivered. */
  async function deliver(row: WebhookDelivery, endpoint: WebhookEndpoint | undefined, claim: Date): Promise<boolean> {
    if (!endpoint || endpoint.status !== 'active') {
      // Written while the endpoint was being disabled: not sent, no attempt made.
      await database.transaction((tx) =>
        repo.finishInTx(tx, row.id, claim, { status: 'failed', statusCode: null, error: 'Not sent: the endpoint is disabled.', attempted: false }),
      );
      return false;
    }
    const result = await sender.send({ url: endpoint.url, body: row.payload, headers: signedHeaders(endpoint, row.messageId, clock.now(), row.payload) });
    const log = { deliveryId: row.id, endpointId: endpoint.id, messageId: row.messageId, attempt: row.attempts + 1 };
    if (result.ok) {
      if (await recordSuccess(row, claim, result.statusCode)) return true;
      leaseLost(row);
      return false;
    }
    if (await recordFailure(row, endpoint, claim, result)) logger.warn({ ...log, err: result.error }, 'webhook attempt failed');
    else leaseLost(row);
    return false;
  }

  async function deliverBatch(): Promise<PassResult> {
    const { rows, endpoints } = await repo.claimDue(clock.now(), batchSize, leaseMs);
    const claim = rows[0]?.lockedUntil;
    if (!claim) return { sent: 0, full: false };
    // A stop hands a fresh claim back at once (another worker sends it).
    if (loop.stopping() || clock.now().getTime() + sendBudgetMs > claim.getTime()) {
      await repo.release(
        rows.map((r) => r.id),
        claim,
      );
      return { sent: 0, full: false };
    }
    const outcomes = await Promise.all(
      rows.map((row) =>
        deliver(row, endpoints.get(row.endpointId), claim).catch((err: unknown) => {
          // The row stays claimed; when the lease ends it is claimed and sent again.
          logger.error({ err, deliveryId: row.id }, 'webhook delivery failed unexpectedly');
          return false;
        }),
      ),
    );
    return { sent: outcomes.filter(Boolean).length, full: rows.length === batchSize };
  }

  return { runOnce: () => loop.runOnce(), start: () => loop.start(), stop: () => loop.stop() };
}

/** Thrown to roll back a failure's transaction when the claim no longer holds its row. */
class LeaseLost extends Error {}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>;
