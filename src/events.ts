import type { Tx } from './db/client.js';
import type { WebhookEventType } from './db/schema.js';

/**
 * The door through which the rest of the app reports an event: it writes one outbox row
 * per interested endpoint inside the caller's transaction, so an event and its webhooks
 * commit together or not at all. `data` is the event's JSON object, snake_case.
 */
export interface WebhookEvents {
  emitInTx(tx: Tx, type: WebhookEventType, data: Record<string, unknown>, now: Date): Promise<void>;
}
