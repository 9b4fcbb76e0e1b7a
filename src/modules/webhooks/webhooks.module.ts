import type { Router } from 'express';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { Notifications } from '../mail/notifications.js';
import { createSender } from './sender.js';
import { newMessageId } from './signing.js';
import { createTargetGuard, type Resolver } from './url-guard.js';
import type { WebhookEvents } from '../../events.js';
import { createWebhooksController } from './webhooks.controller.js';
import { createWebhookDeliverer, type WebhookDeliverer } from './webhooks.deliverer.js';
import { createWebhooksRepository, fanOutInTx } from './webhooks.repository.js';
import { webhooksRoutes } from './webhooks.routes.js';
import { createWebhooksService } from './webhooks.service.js';

export interface WebhooksDeps {
  database: Database;
  config: Pick<Config, 'webhookAllowPrivate'>;
  clock: Clock;
  logger: Logger;
  notifications: Notifications;
  /** Deadline of one delivery attempt (default 10 s). */
  timeoutMs?: number;
  /** Name resolution for the SSRF guard (default: the system resolver). */
  resolve?: Resolver;
  /** How often the background loop looks for due deliveries (default 1 s). */
  pollMs?: number;
  /** Deliveries claimed and sent together in one pass (default 50). */
  batchSize?: number;
}

export interface Webhooks {
  /** Where the rest of the app reports events, inside its own transactions. */
  events: WebhookEvents;
  /** Sends the webhook outbox; server.ts starts it, app.close() stops it. */
  deliverer: WebhookDeliverer;
  /** /admin/webhooks, to mount behind requireAdmin. */
  adminRoutes: Router;
}

/**
 * Webhooks: an outbox written in each event's transaction, a deliverer that signs and
 * sends it by the Standard Webhooks spec, and the admin pages of the endpoints.
 */
export function createWebhooks(deps: WebhooksDeps): Webhooks {
  const { database, config, clock, logger, notifications } = deps;
  const repo = createWebhooksRepository(database);
  const guard = createTargetGuard({ allowPrivate: config.webhookAllowPrivate, resolve: deps.resolve });
  const sender = createSender({ guard, timeoutMs: deps.timeoutMs, userAgent: 'ReferralProgram-Webhooks/1.0' });

  const events: WebhookEvents = {
    async emitInTx(tx, type, data, now) {
      // One webhook-id per event, the same at every endpoint: it names the event, and a
      // receiver behind two endpoints can tell it got the same one twice.
      const payload = JSON.stringify({ type, timestamp: now.toISOString(), data });
      await fanOutInTx(tx, { messageId: newMessageId(), type, payload, now });
    },
  };

  const deliverer = createWebhookDeliverer({
    database,
    repo,
    sender,
    clock,
    logger,
    notifications,
    pollMs: deps.pollMs,
    batchSize: deps.batchSize,
  });

  const service = createWebhooksService({ database, repo, guard, clock });
  const adminRoutes = webhooksRoutes(createWebhooksController({ service }));

  return { events, deliverer, adminRoutes };
}
