import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { sessions, users, userTokens, type NewUser, type TokenPurpose, type User } from '../../db/schema.js';

/**
 * Data access for accounts: Drizzle in, plain rows out. Knows nothing of HTTP, opens no
 * transaction: functions named …InTx run inside the one the service opened.
 */
export function createUserRepository(db: Db) {
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  const byEmail = db.select().from(users).where(eq(users.emailNormalized, sql.placeholder('email'))).prepare();
  const byCode = db.select().from(users).where(eq(users.referralCode, sql.placeholder('code'))).prepare();

  /** The active user behind an unused, unexpired token of this purpose. */
  const tokenOwner = (tx: Tx | Db, purpose: TokenPurpose, tokenHash: string, now: Date): User | undefined =>
    tx
      .select({ user: users })
      .from(userTokens)
      .innerJoin(users, eq(users.id, userTokens.userId))
      .where(
        and(
          eq(userTokens.tokenHash, tokenHash),
          eq(userTokens.purpose, purpose),
          isNull(userTokens.usedAt),
          gt(userTokens.expiresAt, now),
          eq(users.status, 'active'),
        ),
      )
      .get()?.user;

  return {
    findById: (id: number): User | undefined => byId.get({ id }),
    findByEmail: (emailNormalized: string): User | undefined => byEmail.get({ email: emailNormalized }),
    findByCode: (code: string): User | undefined => byCode.get({ code }),

    insertInTx: (tx: Tx, user: NewUser): User => tx.insert(users).values(user).returning().get(),

    setRole: (id: number, role: User['role']): void => {
      db.update(users).set({ role }).where(eq(users.id, id)).run();
    },
    setNotifyReferrals: (id: number, notifyReferrals: boolean): void => {
      db.update(users).set({ notifyReferrals }).where(eq(users.id, id)).run();
    },

    /** Confirms the address once: false when it already was (a second link, a double click). */
    markVerifiedInTx: (tx: Tx, id: number, now: Date): boolean =>
      tx
        .update(users)
        .set({ emailVerifiedAt: now })
        .where(and(eq(users.id, id), isNull(users.emailVerifiedAt)))
        .run().changes === 1,

    setPasswordInTx: (tx: Tx, id: number, passwordHash: string): User =>
      tx.update(users).set({ passwordHash }).where(eq(users.id, id)).returning().get(),

    deleteSessionsInTx: (tx: Tx, userId: number): void => {
      tx.delete(sessions).where(eq(sessions.userId, userId)).run();
    },

    /** Stores a new token (its hash) and voids every older unused one of the same purpose. */
    createTokenInTx(tx: Tx, input: { userId: number; purpose: TokenPurpose; tokenHash: string; expiresAt: Date; now: Date }): void {
      voidTokensInTx(tx, input.userId, input.purpose, input.now);
      tx.insert(userTokens)
        .values({ userId: input.userId, purpose: input.purpose, tokenHash: input.tokenHash, expiresAt: input.expiresAt, createdAt: input.now })
        .run();
    },

    findTokenOwner: (purpose: TokenPurpose, tokenHash: string, now: Date): User | undefined => tokenOwner(db, purpose, tokenHash, now),

    /**
     * Spends a valid token and returns its owner; undefined when it was invalid or spent
     * in the meantime (two tabs at once): exactly one caller wins. Other open tokens of
     * the same purpose die with it.
     */
    spendTokenInTx(tx: Tx, purpose: TokenPurpose, tokenHash: string, now: Date): User | undefined {
      const owner = tokenOwner(tx, purpose, tokenHash, now);
      if (!owner) return undefined;
      const spent = tx
        .update(userTokens)
        .set({ usedAt: now })
        .where(and(eq(userTokens.tokenHash, tokenHash), isNull(userTokens.usedAt)))
        .run();
      if (spent.changes !== 1) return undefined;
      voidTokensInTx(tx, owner.id, purpose, now);
      return owner;
    },
  };
}

function voidTokensInTx(tx: Tx, userId: number, purpose: TokenPurpose, now: Date): void {
  tx.update(userTokens)
    .set({ usedAt: now })
    .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt)))
    .run();
}

export type UserRepository = ReturnType<typeof createUserRepository>;
