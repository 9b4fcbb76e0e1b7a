import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { prepared } from '../../db/sql.js';
import { NO_PASSWORD } from './users.constants.js';
import { referrals, sessions, users, userSignals, userTokens, type NewUser, type TokenPurpose, type User } from '../../db/schema.js';

/**
 * Data access for accounts: Drizzle in, plain rows out. Knows nothing of HTTP, opens no
 * transaction: functions named …InTx run inside the one the service opened; the others
 * read committed data.
 */
export function createUserRepository(db: Db) {
  // Read on every request of a logged-in person: prepared once.
  const byId = prepared(
    db
      .select()
      .from(users)
      .where(eq(users.id, sql.placeholder('id'))),
  );
  const byEmail = prepared(
    db
      .select()
      .from(users)
      .where(eq(users.emailNormalized, sql.placeholder('email'))),
  );
  const byCode = prepared(
    db
      .select()
      .from(users)
      .where(eq(users.referralCode, sql.placeholder('code'))),
  );

  /** The active user behind an unused, unexpired token of this purpose. */
  const tokenOwner = async (q: Db, purpose: TokenPurpose, tokenHash: string, now: Date): Promise<User | undefined> => {
    const [row] = await q
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
      .limit(1);
    return row?.user;
  };

  const voidTokensInTx = async (tx: Tx, userId: number, purpose: TokenPurpose, now: Date): Promise<void> => {
    await tx
      .update(userTokens)
      .set({ usedAt: now })
      .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt)));
  };

  return {
    findById: async (id: number): Promise<User | undefined> => byId.get({ id }),
    findByEmail: async (emailNormalized: string): Promise<User | undefined> => byEmail.get({ email: emailNormalized }),
    findByCode: async (code: string): Promise<User | undefined> => byCode.get({ code }),

    insertInTx: async (tx: Tx, user: NewUser): Promise<User> => (await tx.insert(users).values(user).returning())[0]!,

    setRoleInTx: async (tx: Tx, id: number, role: User['role']): Promise<void> => {
      await tx.update(users).set({ role }).where(eq(users.id, id));
    },
    setNotifyReferralsInTx: async (tx: Tx, id: number, notifyReferrals: boolean): Promise<void> => {
      await tx.update(users).set({ notifyReferrals }).where(eq(users.id, id));
    },

    /** Confirms the address once: false when it already was (a second link, a double click). */
    markVerifiedInTx: async (tx: Tx, id: number, now: Date): Promise<boolean> =>
      (
        await tx
          .update(users)
          .set({ emailVerifiedAt: now })
          .where(and(eq(users.id, id), isNull(users.emailVerifiedAt)))
          .returning({ id: users.id })
      ).length === 1,

    setPasswordInTx: async (tx: Tx, id: number, passwordHash: string): Promise<User> =>
      (await tx.update(users).set({ passwordHash }).where(eq(users.id, id)).returning())[0]!,

    /** Records the host product's conversion report once: false when it already was. */
    markConvertedInTx: async (tx: Tx, id: number, now: Date): Promise<boolean> =>
      (
        await tx
          .update(users)
          .set({ convertedAt: now })
          .where(and(eq(users.id, id), isNull(users.convertedAt)))
          .returning({ id: users.id })
      ).length === 1,

    /**
     * Pseudonymises an account: no name, no address, no usable password, off the
     * leaderboard (disabled), with its tokens and sign-in signals gone. The row stays, so
     * the referrals it made and received keep their history and nobody's count changes.
     * The address is freed for a new sign-up. False when it was already deleted.
     */
    async pseudonymiseInTx(tx: Tx, id: number, now: Date): Promise<boolean> {
      const changed = await tx
        .update(users)
        .set({
          name: 'Deleted user',
          email: '',
          emailNormalized: `deleted:${id}`,
          passwordHash: NO_PASSWORD,
          status: 'disabled',
          notifyReferrals: false,
          deletedAt: now,
        })
        .where(and(eq(users.id, id), isNull(users.deletedAt)))
        .returning({ id: users.id });
      if (changed.length === 0) return false;
      await tx.update(referrals).set({ referredEmail: '' }).where(eq(referrals.referredUserId, id));
      await tx.delete(userTokens).where(eq(userTokens.userId, id));
      await tx.delete(userSignals).where(eq(userSignals.userId, id));
      await tx.delete(sessions).where(eq(sessions.userId, id));
      return true;
    },

    deleteSessionsInTx: async (tx: Tx, userId: number): Promise<void> => {
      await tx.delete(sessions).where(eq(sessions.userId, userId));
    },

    /** Stores a new token (its hash) and voids every older unused one of the same purpose. */
    async createTokenInTx(tx: Tx, input: { userId: number; purpose: TokenPurpose; tokenHash: string; expiresAt: Date; now: Date }): Promise<void> {
      await voidTokensInTx(tx, input.userId, input.purpose, input.now);
      await tx
        .insert(userTokens)
        .values({ userId: input.userId, purpose: input.purpose, tokenHash: input.tokenHash, expiresAt: input.expiresAt, createdAt: input.now });
    },

    findTokenOwner: (purpose: TokenPurpose, tokenHash: string, now: Date): Promise<User | undefined> => tokenOwner(db, purpose, tokenHash, now),

    /**
     * Spends a valid token and returns its owner; undefined when it was invalid or spent
     * in the meantime (two tabs at once): exactly one caller wins. Other open tokens of
     * the same purpose die with it.
     */
    async spendTokenInTx(tx: Tx, purpose: TokenPurpose, tokenHash: string, now: Date): Promise<User | undefined> {
      const owner = await tokenOwner(tx, purpose, tokenHash, now);
      if (!owner) return undefined;
      const spent = await tx
        .update(userTokens)
        .set({ usedAt: now })
        .where(and(eq(userTokens.tokenHash, tokenHash), isNull(userTokens.usedAt)))
        .returning({ id: userTokens.id });
      if (spent.length !== 1) return undefined;
      await voidTokensInTx(tx, owner.id, purpose, now);
      return owner;
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
