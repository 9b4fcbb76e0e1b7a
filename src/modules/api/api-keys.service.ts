import crypto from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/database.js';
import type { ApiKey, ApiScope, User } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { auditInTx } from '../audit/audit.repository.js';
import type { ApiKeyRepository } from './api-keys.repository.js';

/** `rk_` and 256 random bits in base64url (43 characters). */
const KEY_SHAPE = /^rk_[A-Za-z0-9_-]{43}$/;
const PREFIX_LENGTH = 10;
/** Last-used times are written at most this often per key. */
const TOUCH_EVERY_MS = 60_000;

const hashKey = (key: string) => crypto.createHash('sha256').update(key).digest('hex');

/**
 * Integration API keys. A key is shown once, when it is made; only its SHA-256 is kept (a
 * key is random, so a slow hash would add nothing). Creating and revoking are audited.
 */
export function createApiKeyService(deps: { database: Database; repo: ApiKeyRepository; clock: Clock }) {
  const { database, repo, clock } = deps;
  // When each key's use was last written, so most requests skip the write.
  const touched = new Map<number, number>();

  async function create(actor: User, input: { name: string; scope: ApiScope }): Promise<{ key: string; row: ApiKey }> {
    const key = `rk_${crypto.randomBytes(32).toString('base64url')}`;
    const now = clock.now();
    const row = await database.transaction(async (tx) => {
      const created = await repo.insertInTx(tx, { ...input, keyHash: hashKey(key), prefix: key.slice(0, PREFIX_LENGTH), createdById: actor.id, now });
      await auditInTx(tx, { actorId: actor.id, action: 'api_key.create', targetType: 'api_key', targetId: created.id, details: input, now });
      return created;
    });
    return { key, row };
  }

  async function revoke(actor: User, id: number): Promise<ApiKey> {
    const now = clock.now();
    const revoked = await database.transaction(async (tx) => {
      const row = await repo.revokeInTx(tx, id, now);
      if (row) await auditInTx(tx, { actorId: actor.id, action: 'api_key.revoke', targetType: 'api_key', targetId: id, details: { name: row.name }, now });
      return row;
    });
    if (!revoked) throw notFound('No such live API key.');
    return revoked;
  }

  /** The live key behind a bearer token, or undefined: unknown, malformed and revoked keys look alike. */
  async function authenticate(token: string): Promise<ApiKey | undefined> {
    if (!KEY_SHAPE.test(token)) return undefined;
    const row = await repo.findByHash(hashKey(token));
    if (!row || row.revokedAt !== null) return undefined;
    const now = clock.now();
    if (now.getTime() - (touched.get(row.id) ?? 0) >= TOUCH_EVERY_MS) {
      touched.set(row.id, now.getTime());
      await database.transaction((tx) => repo.touchInTx(tx, row.id, now, TOUCH_EVERY_MS));
    }
    return row;
  }

  return { create, revoke, authenticate, list: () => repo.list() };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
