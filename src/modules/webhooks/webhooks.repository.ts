import { and, desc, eq, inArray, isNotNull, lt, lte, ne, or, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { deleteInBatches, type Database } from '../../db/database.js';
import { webhookDeliveries, webhookEndpoints, type WebhookDelivery, type WebhookEndpoint, type WebhookEventType } from '../../db/schema.js';
import { exec, skipLocked } from '../../db/sql.js';

export interface NewEvent {
  messageId: string;
  type: WebhookEventType;
  payload: string;
  now: Date;
}

const column = (c: { name: string }) => sql.identifier(c.name);

/**
 * One pending delivery per active endpoint that wants this event, in one INSERT … SELECT
 * inside the event's transaction. The casts give PostgreSQL the parameters' types (in a
 * select list they would otherwise be text); SQLite accepts them as they are.
 */
export async function fanOutInTx(tx: Tx, event: NewEvent): Promise<void> {
  const d = webhookDeliveries;
  const e = webhookEndpoints;
  const at = event.now.getTime();
  await exec(
    tx,
    sql`insert into ${d} (${sql.join([d.endpointId, d.messageId, d.eventType, d.payload, d.status, d.attempts, d.nextAttemptAt, d.createdAt].map(column), sql`, `)})
      select ${e.id}, cast(${event.messageId} as text), cast(${event.type} as text), cast(${event.payload} as text), 'pending', 0, cast(${at} as bigint), cast(${at} as bigint)
      from ${e}
      where ${e.status} = 'active' and (${e.events} = '' or ${e.events} like ${`%,${event.type},%`})`,
  );
}

/** The endpoints' event lists as stored: '' for all, else the types between commas. */
export const encodeEvents = (events: readonly WebhookEventType[]) => (events.length ? `,${events.join(',')},` : '');
export const decodeEvents = (stored: string) => stored.split(',').filter(Boolean) as WebhookEventType[];

/** The outcome of one attempt, written only while the claim that made it still holds the row. */
export type Finish =
  | { status: 'sent'; statusCode: number; at: Date }
  | { status: 'pending' | 'failed'; statusCode: number | null; error: string; nextAttemptAt?: Date; attempted: boolean };

export function createWebhooksRepository(database: Database) {
  const { db } = database;

  /** The row, while the claim that set `lockedUntil` to `claim` still holds it. */
  const heldBy = (id: number, claim: Date) =>
    and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'sending'), eq(webhookDeliveries.lockedUntil, claim));

  return {
    listEndpoints: (): Promise<WebhookEndpoint[]> => db.select().from(webhookEndpoints).orderBy(webhookEndpoints.id),

    endpointById: async (id: number): Promise<WebhookEndpoint | undefined> =>
      (await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).limit(1))[0],

    /** The newest deliveries of an endpoint, newest first (the delivery log). */
    deliveriesOf: (endpointId: number, limit: number): Promise<WebhookDelivery[]> =>
      db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId)).orderBy(desc(webhookDeliveries.id)).limit(limit),

    deliveryOf: async (endpointId: number, id: number): Promise<WebhookDelivery | undefined> =>
      (
        await db
          .select()
          .from(webhookDeliveries)
          .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.endpointId, endpointId)))
          .limit(1)
      )[0],

    async insertEndpointInTx(tx: Tx, input: { url: string; events: readonly WebhookEventType[]; secret: string; now: Date }): Promise<WebhookEndpoint> {
      const [row] = await tx
        .insert(webhookEndpoints)
        .values({ url: input.url, events: encodeEvents(input.events), secret: input.secret, status: 'active', createdAt: input.now })
        .returning();
      return row!;
    },

    /** The current secret becomes the previous one, which still signs until `previousUntil`. */
    async rotateSecretInTx(tx: Tx, id: number, secret: string, previousUntil: Date): Promise<boolean> {
      const changed = await tx
        .update(webhookEndpoints)
        .set({ previousSecret: sql`${webhookEndpoints.secret}`, previousSecretUntil: previousUntil, secret })
        .where(eq(webhookEndpoints.id, id))
        .returning({ id: webhookEndpoints.id });
      return changed.length > 0;
    },

    /** Enabling starts the health record afresh. Answers whether the status changed. */
    async setStatusInTx(tx: Tx, id: number, status: WebhookEndpoint['status'], now: Date): Promise<boolean> {
      const changed = await tx
        .update(webhookEndpoints)
        .set(status === 'disabled' ? { status, disabledAt: now } : { status, disabledAt: null, failingSince: null })
        .where(and(eq(webhookEndpoints.id, id), ne(webhookEndpoints.status, status)))
        .returning({ id: webhookEndpoints.id });
      return changed.length > 0;
    },

    async deleteEndpointInTx(tx: Tx, id: number): Promise<boolean> {
      return (await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).returning({ id: webhookEndpoints.id })).length > 0;
    },

    /**
     * A disabled endpoint's waiting deliveries are marked failed with the reason, rather
     * than left pending: rows nobody will send must not stay due (every pass would read
     * them again), and the log shows plainly what was not delivered. They can be resent
     * one by one once the endpoint is enabled again. Rows being sent right now finish.
     */
    async failPendingInTx(tx: Tx, endpointId: number, error: string): Promise<number> {
      const failed = await tx
        .update(webhookDeliveries)
        .set({ status: 'failed', lastError: error })
        .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, 'pending')))
        .returning({ id: webhookDeliveries.id });
      return failed.length;
    },

    /** A new delivery of the same message (same `webhook-id` and body), due now. */
    async resendInTx(tx: Tx, of: WebhookDelivery, now: Date): Promise<WebhookDelivery> {
      const [row] = await tx
        .insert(webhookDeliveries)
        .values({
          endpointId: of.endpointId,
          messageId: of.messageId,
          eventType: of.eventType,
          payload: of.payload,
          status: 'pending',
          nextAttemptAt: now,
          createdAt: now,
        })
        .returning();
      return row!;
    },

    /**
     * Claims due rows for this worker (pending ones whose time has come, and rows whose
     * sender died mid-lease) with their endpoints. One UPDATE … RETURNING over rows
     * locked with SKIP LOCKED on PostgreSQL, so two workers never claim one row.
     */
    async claimDue(now: Date, limit: number, leaseMs: number): Promise<{ rows: WebhookDelivery[]; endpoints: Map<number, WebhookEndpoint> }> {
      return database.transaction(async (tx) => {
        const due = skipLocked(
          tx
            .select({ id: webhookDeliveries.id })
            .from(webhookDeliveries)
            .where(
              or(
                and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, now)),
                and(eq(webhookDeliveries.status, 'sending'), lte(webhookDeliveries.lockedUntil, now)),
              ),
            )
            .orderBy(webhookDeliveries.nextAttemptAt, webhookDeliveries.id)
            .limit(limit),
        );
        const rows = await tx
          .update(webhookDeliveries)
          .set({ status: 'sending', lockedUntil: new Date(now.getTime() + leaseMs) })
          .where(inArray(webhookDeliveries.id, due))
          .returning();
        const ids = [...new Set(rows.map((r) => r.endpointId))];
        const endpoints = ids.length ? await tx.select().from(webhookEndpoints).where(inArray(webhookEndpoints.id, ids)) : [];
        return { rows: rows.sort((a, b) => a.id - b.id), endpoints: new Map(endpoints.map((e) => [e.id, e])) };
      });
    },

    /** Writes an attempt's outcome; false when the claim no longer holds the row (its lease ran out). */
    async finishInTx(tx: Tx, id: number, claim: Date, outcome: Finish): Promise<boolean> {
      const attempts = sql`${webhookDeliveries.attempts} + 1`;
      const set =
        outcome.status === 'sent'
          ? { status: 'sent' as const, attempts, lastStatusCode: outcome.statusCode, lastError: null, deliveredAt: outcome.at }
          : {
              status: outcome.status,
              ...(outcome.attempted ? { attempts, lastStatusCode: outcome.statusCode } : {}),
              lastError: outcome.error.slice(0, 500),
              ...(outcome.nextAttemptAt ? { nextAttemptAt: outcome.nextAttemptAt } : {}),
            };
      const changed = await tx
        .update(webhookDeliveries)
        .set({ ...set, lockedUntil: null })
        .where(heldBy(id, claim))
        .returning({ id: webhookDeliveries.id });
      return changed.length > 0;
    },

    /** Hands claimed rows back untouched (a stop, or a lease too short for another send). */
    async release(ids: number[], claim: Date): Promise<void> {
      if (ids.length === 0) return;
      await database.transaction(async (tx) => {
        await tx
          .update(webhookDeliveries)
          .set({ status: 'pending', lockedUntil: null })
          .where(and(inArray(webhookDeliveries.id, ids), eq(webhookDeliveries.status, 'sending'), eq(webhookDeliveries.lockedUntil, claim)));
      });
    },

    async markHealthyInTx(tx: Tx, endpointId: number): Promise<void> {
      await tx
        .update(webhookEndpoints)
        .set({ failingSince: null })
        .where(and(eq(webhookEndpoints.id, endpointId), isNotNull(webhookEndpoints.failingSince)));
    },

    /** Records a failure; answers since when the endpoint has been failing (undefined: it is gone). */
    async markFailingInTx(tx: Tx, endpointId: number, now: Date): Promise<WebhookEndpoint | undefined> {
      const [row] = await tx
        .update(webhookEndpoints)
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now.getTime()})` })
        .where(eq(webhookEndpoints.id, endpointId))
        .returning();
      return row;
    },
  };
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>;

/**
 * Deletes finished deliveries (sent, or failed for good) whose last attempt is older than
 * `before`, in batches, on the session store's schedule: the delivery log keeps what an
 * operator looks at (OUTBOX_RETENTION_DAYS, as for email bodies), and the table does not
 * grow by every event forever. A waiting delivery is never deleted.
 */
export function pruneWebhookDeliveries(database: Database, before: Date): Promise<number> {
  return deleteInBatches(
    database,
    webhookDeliveries,
    webhookDeliveries.id,
    and(inArray(webhookDeliveries.status, ['sent', 'failed']), lt(webhookDeliveries.nextAttemptAt, before)),
    5000,
  );
}
