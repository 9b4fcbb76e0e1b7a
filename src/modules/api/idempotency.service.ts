import crypto from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/database.js';
import type { IdempotencyClaim, IdempotencyRepository } from './idempotency.repository.js';

/** How long the first answer to an Idempotency-Key is replayed. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/** Each claim, answer and release is a unit of work of its own. */
export function createIdempotency(deps: { database: Database; repo: IdempotencyRepository; clock: Clock }) {
  const { database, repo, clock } = deps;
  return {
    claim(apiKeyId: number, key: string, request: { method: string; path: string; body: unknown }): Promise<IdempotencyClaim> {
      const fingerprint = crypto
        .createHash('sha256')
        .update(`${request.method} ${request.path}\n${JSON.stringify(request.body ?? {})}`)
        .digest('base64url');
      const now = clock.now();
      return database.transaction((tx) => repo.claimInTx(tx, { apiKeyId, key, fingerprint, now, expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS) }));
    },
    finish: (id: number, statusCode: number, body: string) => database.transaction((tx) => repo.finishInTx(tx, id, statusCode, body)),
    release: (id: number) => database.transaction((tx) => repo.releaseInTx(tx, id)),
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;
