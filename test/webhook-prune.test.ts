import { afterAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../src/clock.js';
import { webhookDeliveries, webhookEndpoints } from '../src/db/schema.js';
import { pruneWebhookDeliveries } from '../src/modules/webhooks/webhooks.repository.js';
import { freshDatabase } from './helpers/app.js';

const fresh = freshDatabase();
afterAll(async () => {
  await fresh.database.close();
  fresh.drop();
});

describe('pruning the webhook delivery log', () => {
  it('deletes finished deliveries older than the retention, in batches, and keeps waiting and recent ones', async () => {
    const { db, database } = fresh;
    const now = new Date('2026-06-01T00:00:00Z');
    const [endpoint] = await db.insert(webhookEndpoints).values({ url: 'https://hooks.example.com/in', secret: 'whsec_x', createdAt: now }).returning();
    const row = (status: 'pending' | 'sending' | 'sent' | 'failed', ageDays: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        endpointId: endpoint!.id,
        messageId: `msg_${status}_${ageDays}_${i}`,
        eventType: 'participant.created',
        payload: '{}',
        status,
        nextAttemptAt: new Date(now.getTime() - ageDays * DAY_MS),
        createdAt: new Date(now.getTime() - ageDays * DAY_MS),
      }));
    // 12,000 old sent rows: more than two batches of 5,000.
    for (let i = 0; i < 12; i++)
      await db.insert(webhookDeliveries).values(row('sent', 40, 1000).map((r, j) => ({ ...r, messageId: `${r.messageId}_${i}_${j}` })));
    await db
      .insert(webhookDeliveries)
      .values([...row('failed', 40, 3), ...row('pending', 40, 2), ...row('sending', 40, 1), ...row('sent', 5, 4), ...row('failed', 5, 1)]);

    const deleted = await pruneWebhookDeliveries(database, new Date(now.getTime() - 30 * DAY_MS));
    expect(deleted).toBe(12_003);
    const left = await db.select({ status: webhookDeliveries.status, messageId: webhookDeliveries.messageId }).from(webhookDeliveries);
    const byStatus = left.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ pending: 2, sending: 1, sent: 4, failed: 1 });
    expect(await pruneWebhookDeliveries(database, new Date(now.getTime() - 30 * DAY_MS))).toBe(0);
  });
});
