import { DAY_MS, type Clock } from '../../clock.js';
import type { Tx } from '../../db/client.js';
import type { Database } from '../../db/database.js';
import type { User, WebhookEndpoint } from '../../db/schema.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { auditInTx } from '../audit/audit.repository.js';
import { newSecret } from './signing.js';
import { RefusedTargetError, type TargetGuard } from './url-guard.js';
import type { EndpointInput } from './webhooks.schemas.js';
import { decodeEvents, type WebhooksRepository } from './webhooks.repository.js';

/** After a rotation the previous secret goes on signing this long, while receivers switch. */
export const ROTATION_OVERLAP_MS = DAY_MS;
/** Deliveries shown in an endpoint's log. */
export const LOG_SIZE = 50;

/**
 * The admin side of webhooks. Every change is one transaction with its audit row; no
 * audit row ever holds a secret.
 */
export function createWebhooksService(deps: { database: Database; repo: WebhooksRepository; guard: TargetGuard; clock: Clock }) {
  const { database, repo, guard, clock } = deps;

  async function requireEndpoint(id: number): Promise<WebhookEndpoint> {
    const endpoint = await repo.endpointById(id);
    if (!endpoint) throw notFound('No such webhook endpoint.');
    return endpoint;
  }

  const audit = (tx: Tx, actor: User, action: string, endpointId: number, details: Record<string, unknown>) =>
    auditInTx(tx, { actorId: actor.id, action, targetType: 'webhook_endpoint', targetId: endpointId, details, now: clock.now() });

  /** Every endpoint, with its events and the newest error among its latest deliveries. */
  async function listEndpoints() {
    const endpoints = await repo.listEndpoints();
    return Promise.all(
      endpoints.map(async (e) => {
        const recent = await repo.deliveriesOf(e.id, 20);
        const failure = recent.find((d) => d.status !== 'sent' && d.lastError);
        return { ...e, eventList: decodeEvents(e.events), recentError: failure?.lastError ?? null };
      }),
    );
  }

  async function endpointPage(id: number) {
    const endpoint = await requireEndpoint(id);
    const now = clock.now();
    return {
      endpoint,
      eventList: decodeEvents(endpoint.events),
      previousSigning: endpoint.previousSecret !== null && endpoint.previousSecretUntil !== null && endpoint.previousSecretUntil > now,
      deliveries: await repo.deliveriesOf(id, LOG_SIZE),
    };
  }

  /** Checks where the URL leads (outside the transaction: DNS takes its time), then saves it. */
  async function createEndpoint(actor: User, input: EndpointInput): Promise<WebhookEndpoint> {
    try {
      await guard.check(new URL(input.url));
    } catch (err) {
      if (err instanceof RefusedTargetError) throw badRequest(err.message, 'url', 'refused_target');
      throw err;
    }
    return database.transaction(async (tx) => {
      const endpoint = await repo.insertEndpointInTx(tx, { url: input.url, events: input.events, secret: newSecret(), now: clock.now() });
      await audit(tx, actor, 'webhook.create', endpoint.id, { url: endpoint.url, events: input.events });
      return endpoint;
    });
  }

  async function rotateSecret(actor: User, id: number): Promise<void> {
    await requireEndpoint(id);
    const until = new Date(clock.now().getTime() + ROTATION_OVERLAP_MS);
    await database.transaction(async (tx) => {
      if (!(await repo.rotateSecretInTx(tx, id, newSecret(), until))) throw notFound('No such webhook endpoint.');
      await audit(tx, actor, 'webhook.rotate_secret', id, { previousSigningUntil: until });
    });
  }

  /** Disabling marks the waiting deliveries failed (see failPendingInTx); enabling clears the failure streak. */
  async function setStatus(actor: User, id: number, status: WebhookEndpoint['status']): Promise<WebhookEndpoint> {
    const endpoint = await requireEndpoint(id);
    await database.transaction(async (tx) => {
      if (!(await repo.setStatusInTx(tx, id, status, clock.now()))) return;
      const undelivered = status === 'disabled' ? await repo.failPendingInTx(tx, id, 'Not sent: the endpoint was disabled by an admin.') : undefined;
      await audit(tx, actor, status === 'disabled' ? 'webhook.disable' : 'webhook.enable', id, { url: endpoint.url, undelivered });
    });
    return endpoint;
  }

  async function deleteEndpoint(actor: User, id: number): Promise<WebhookEndpoint> {
    const endpoint = await requireEndpoint(id);
    await database.transaction(async (tx) => {
      if (!(await repo.deleteEndpointInTx(tx, id))) throw notFound('No such webhook endpoint.');
      await audit(tx, actor, 'webhook.delete', id, { url: endpoint.url });
    });
    return endpoint;
  }

  /** A new delivery of a logged one: same `webhook-id` and body, due now. */
  async function resend(actor: User, endpointId: number, deliveryId: number): Promise<void> {
    const endpoint = await requireEndpoint(endpointId);
    const delivery = await repo.deliveryOf(endpointId, deliveryId);
    if (!delivery) throw notFound('No such delivery.');
    if (endpoint.status !== 'active') throw new AppError(409, 'Enable the endpoint before resending to it.', { code: 'endpoint_disabled' });
    await database.transaction(async (tx) => {
      const copy = await repo.resendInTx(tx, delivery, clock.now());
      await audit(tx, actor, 'webhook.resend', endpointId, { deliveryId, messageId: delivery.messageId, newDeliveryId: copy.id });
    });
  }

  return { listEndpoints, endpointPage, createEndpoint, rotateSecret, setStatus, deleteEndpoint, resend };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
