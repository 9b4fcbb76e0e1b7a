import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { OutboxRepository } from './outbox.repository.js';
import { isPermanent, type MailTransport } from './transport.js';

/**
 * Retry schedule for transient failures (connection refused, timeouts, 4xx replies):
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

export interface DelivererOptions {
  repo: OutboxRepository;
  transport: MailTransport;
  clock: Clock;
  logger: Logger;
  from: string;
  pollMs?: number;
  batchSize?: number;
  leaseMs?: number;
}

/**
 * Sends what the outbox holds, in the background of each app process. Rows are claimed
 * with a lease, so several workers share the work without sending a row twice; a row
 * is marked sent right after the server accepts it. (Only a crash between those two
 * steps can repeat a message: the cost of never losing one.)
 */
export function createDeliverer(options: DelivererOptions) {
  const { repo, transport, clock, logger, from } = options;
  const pollMs = options.pollMs ?? 1_000;
  const batchSize = options.batchSize ?? 20;
  const leaseMs = options.leaseMs ?? 120_000;

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;
  // While the server is unreachable, pause the whole loop rather than try every row.
  let outageFailures = 0;
  let pausedUntil = 0;

  async function deliverBatch(): Promise<number> {
    const now = clock.now();
    if (now.getTime() < pausedUntil) return 0;
    const batch = await repo.claimDue(now, batchSize, leaseMs);
    let sent = 0;
    for (let i = 0; i < batch.length; i++) {
      const row = batch[i]!;
      try {
        await transport.send({ from, to: row.toAddress, subject: row.subject, text: row.textBody, html: row.htmlBody, messageId: row.messageId });
        await repo.markSent(row.id, clock.now());
        sent += 1;
        outageFailures = 0;
      } catch (err) {
        const message = err instanceof Error ? err.message.slice(0, 500) : String(err);
        const attempt = row.attempts + 1;
        const age = clock.now().getTime() - row.createdAt.getTime();
        if (isPermanent(err) || age >= GIVE_UP_AFTER_MS) {
          await repo.markFailed(row.id, message);
          logger.error({ outboxId: row.id, kind: row.kind, attempt, err: message }, 'email failed permanently');
          continue;
        }
        const delay = retryDelayMs(attempt);
        await repo.markRetry(row.id, message, new Date(clock.now().getTime() + delay));
        outageFailures += 1;
        pausedUntil = clock.now().getTime() + retryDelayMs(outageFailures);
        await repo.release(batch.slice(i + 1).map((r) => r.id));
        logger.warn({ outboxId: row.id, kind: row.kind, attempt, retryInMs: delay, err: message }, 'email delivery failed; will retry');
        break;
      }
    }
    return sent;
  }

  /** One pass over due rows; returns how many were sent. Safe to call while the loop runs. */
  function runOnce(): Promise<number> {
    running ??= deliverBatch().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    const tick = async () => {
      try {
        // Drain quickly while there is work; otherwise wait for the next tick.
        while (!stopped && (await runOnce()) === batchSize);
      } catch (err) {
        logger.error({ err }, 'outbox delivery loop error');
      }
      schedule();
    };
    timer = setTimeout(() => void tick(), pollMs);
    timer.unref();
  }

  return {
    runOnce,
    start(): void {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    /** Stops polling and waits for a batch in flight, so shutdown never cuts a send. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
