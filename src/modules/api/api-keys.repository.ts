import { and, desc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { prepared } from '../../db/sql.js';
import { apiKeys, type ApiKey, type ApiScope } from '../../db/schema.js';

/** API keys: Drizzle in, plain rows out. */
export function createApiKeyRepository(db: Db) {
  // Read on every API request: prepared once.
  const byHash = prepared(
    db
      .select()
      .from(apiKeys)
      .where(eq(apiKeys.keyHash, sql.placeholder('hash'))),
  );
  return {
    findByHash: async (keyHash: string): Promise<ApiKey | undefined> => byHash.get({ hash: keyHash }),
    list: (): Promise<ApiKey[]> => db.select().from(apiKeys).orderBy(desc(apiKeys.id)),
    async insertInTx(tx: Tx, row: { name: string; scope: ApiScope; keyHash: string; prefix: string; createdById: number; now: Date }): Promise<ApiKey> {
      const [created] = await tx
        .insert(apiKeys)
        .values({ name: row.name, scope: row.scope, keyHash: row.keyHash, prefix: row.prefix, createdById: row.createdById, createdAt: row.now })
        .returning();
      return created!;
    },
    /** Revokes a live key; undefined when it is unknown or already revoked. */
    async revokeInTx(tx: Tx, id: number, now: Date): Promise<ApiKey | undefined> {
      const [revoked] = await tx
        .update(apiKeys)
        .set({ revokedAt: now })
        .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
        .returning();
      return revoked;
    },
    /** Records use at most once per `everyMs`, so a busy key does not write on every request. */
    async touchInTx(tx: Tx, id: number, now: Date, everyMs: number): Promise<void> {
      await tx
        .update(apiKeys)
        .set({ lastUsedAt: now })
        .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, new Date(now.getTime() - everyMs)))));
    },
  };
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;
