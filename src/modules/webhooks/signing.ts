import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { WebhookEndpoint } from '../../db/schema.js';

/** A signing secret in the Standard Webhooks format: `whsec_` and 32 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/** The `webhook-id` of one event: the same on every retry and every resend. */
export function newMessageId(): string {
  return `msg_${crypto.randomBytes(18).toString('base64url')}`;
}

/**
 * The Standard Webhooks headers of one attempt. The timestamp is the attempt's own (a
 * receiver rejects old ones against replay), so a retry is signed afresh. After a
 * rotation, both secrets sign until `previousSecretUntil`: a receiver still holding the
 * old one keeps verifying while it is updated.
 */
export function signedHeaders(
  endpoint: Pick<WebhookEndpoint, 'secret' | 'previousSecret' | 'previousSecretUntil'>,
  messageId: string,
  at: Date,
  body: string,
): Record<string, string> {
  const secrets = [endpoint.secret];
  if (endpoint.previousSecret && endpoint.previousSecretUntil && endpoint.previousSecretUntil.getTime() > at.getTime()) secrets.push(endpoint.previousSecret);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(messageId, at, body)).join(' '),
  };
}
