import { and, eq, lt, lte } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { deleteInBatches, type Database } from '../../db/database.js';
import { apiIdempotency } from '../../db/schema.js';

export type IdempotencyClaim = { kind: 'new'; id: number } | { kind: 'replay'; statusCode: number; body: string } | { kind: 'running' } | { kind: 'mismatch' };

/** The first answer to each Idempotency-Key of an API key (see the table's comment). */
export function createIdempotencyRepository() {
  return {
    /**
     * Claims the key for this request, or says what became of the request that claimed it
     * first. An expired claim is cleared first, so a key can be reused after 24 hours. The
     * unique index settles two requests that arrive together: one inserts, the other reads.
     */
    async claimInTx(tx: Tx, input: { apiKeyId: number; key: string; fingerprint: string; now: Date; expiresAt: Date }): Promise<IdempotencyClaim> {
      const same = and(eq(apiIdempotency.apiKeyId, input.apiKeyId), eq(apiIdempotency.key, input.key));
      await tx.delete(apiIdempotency).where(and(same, lte(apiIdempotency.expiresAt, input.now)));
      const [inserted] = await tx
        .insert(apiIdempotency)
        .values({ apiKeyId: input.apiKeyId, key: input.key, fingerprint: input.fingerprint, createdAt: input.now, expiresAt: input.expiresAt })
        .onConflictDoNothing()
        .returning({ id: apiIdempotency.id });
      if (inserted) return { kind: 'new', id: inserted.id };
      const [first] = await tx.select().from(apiIdempotency).where(same).limit(1);
      if (!first) return { kind: 'running' };
      if (first.fingerprint !== input.fingerprint) return { kind: 'mismatch' };
      if (first.statusCode === null || first.body === null) return { kind: 'running' };
      return { kind: 'replay', statusCode: first.statusCode, body: first.body };
    },
    async finishInTx(tx: Tx, id: number, statusCode: number, body: string): Promise<void> {
      await tx.update(apiIdempotency).set({ statusCode, body }).where(eq(apiIdempotency.id, id));
    },
    /** A request that failed on our side leaves no answer to replay: the client may retry. */
    async releaseInTx(tx: Tx, id: number): Promise<void> {
      await tx.delete(apiIdempotency).where(eq(apiIdempotency.id, id));
    },
  };
}

/** Deletes expired answers in batches, on the session store's schedule. */
export function pruneIdempotency(database: Database, now: Date): Promise<number> {
  return deleteInBatches(database, apiIdempotency, apiIdempotency.id, lt(apiIdempotency.expiresAt, now), 5000);
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
