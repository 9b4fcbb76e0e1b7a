import { z } from 'zod';
import { WEBHOOK_EVENTS } from '../../db/schema.js';
import { parseTargetUrl } from './url-guard.js';

export const MAX_URL_LENGTH = 2000;

const idField = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/)
  .transform(Number);

export const EndpointParamsSchema = z.object({ id: idField });
export const DeliveryParamsSchema = z.object({ id: idField, deliveryId: idField });

const eventField = z.enum(WEBHOOK_EVENTS, { error: 'Choose events from the list.' });

/**
 * The new-endpoint form: a URL, and a repeated `events` checkbox (none ticked: every
 * event). The URL must be http(s) with a host and no credentials; where it leads is the
 * guard's business, after resolving it.
 */
export const EndpointSchema = z.object({
  url: z
    .string({ error: 'Enter the URL that receives the webhooks.' })
    .trim()
    .min(1, 'Enter the URL that receives the webhooks.')
    .max(MAX_URL_LENGTH, `Use a URL of at most ${MAX_URL_LENGTH} characters.`)
    .transform((raw, ctx) => {
      const parsed = parseTargetUrl(raw);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed.href;
    }),
  events: z
    .union([eventField.transform((e) => [e]), z.array(eventField).max(WEBHOOK_EVENTS.length * 2, 'Choose events from the list.')], {
      error: 'Choose events from the list.',
    })
    .optional()
    .transform((events) => WEBHOOK_EVENTS.filter((e) => events?.includes(e))),
});

export type EndpointInput = z.output<typeof EndpointSchema>;
