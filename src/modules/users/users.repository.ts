import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { prepared } from '../../db/sql.js';
import { NO_PASSWORD } from './users.constants.js';
import { referralCodes, referrals, sessions, users, userSignals, userTokens, type NewUser, type TokenPurpose, type User } from '../../db/schema.js';
import { codeCandidates } from '../referral/referral-code.js';

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

  const byFormerCode = prepared(
    db
      .select({ user: users })
      .from(referralCodes)
      .innerJoin(users, eq(users.id, referralCodes.userId))
      .where(eq(referralCodes.code, sql.placeholder('code'))),
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

  /**
   * Spends a valid token: its owner and payload, or undefined when it was invalid or spent
   * in the meantime (two tabs at once): exactly one caller wins. Other open tokens of the
   * same purpose die with it.
   */
  const spendInTx = async (tx: Tx, purpose: TokenPurpose, tokenHash: string, now: Date): Promise<{ owner: User; payload: string | null } | undefined> => {
    const owner = await tokenOwner(tx, purpose, tokenHash, now);
    if (!owner) return undefined;
    const spent = await tx
      .update(userTokens)
      .set({ usedAt: now })
      .where(and(eq(userTokens.tokenHash, tokenHash), isNull(userTokens.usedAt)))
      .returning({ payload: userTokens.payload });
    if (spent.length !== 1) return undefined;
    await voidTokensInTx(tx, owner.id, purpose, now);
    return { owner, payload: spent[0]!.payload };
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
    /**
     * The person behind a typed code: a current code first (one indexed read for the
     * usual link), then a former one, for each thing the text may stand for.
     */
    async findByCode(typed: string): Promise<User | undefined> {
      for (const code of codeCandidates(typed)) {
        const found = (await byCode.get({ code })) ?? (await byFormerCode.get({ code }))?.user;
        if (found) return found;
      }
      return undefined;
    },
    /** Every code the person had before their current one, oldest first. */
    formerCodes: async (userId: number): Promise<string[]> =>
      (
        await db
          .select({ code: referralCodes.code })
          .from(referralCodes)
          .innerJoin(users, eq(users.id, referralCodes.userId))
          .where(and(eq(referralCodes.userId, userId), ne(referralCodes.code, users.referralCode)))
          .orderBy(referralCodes.createdAt, referralCodes.code)
      ).map((r) => r.code),

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
    async createTokenInTx(
      tx: Tx,
      input: { userId: number; purpose: TokenPurpose; tokenHash: string; expiresAt: Date; now: Date; payload?: string },
    ): Promise<void> {
      await voidTokensInTx(tx, input.userId, input.purpose, input.now);
      await tx.insert(userTokens).values({
        userId: input.userId,
        purpose: input.purpose,
        tokenHash: input.tokenHash,
        expiresAt: input.expiresAt,
        payload: input.payload ?? null,
        createdAt: input.now,
      });
    },

    /** Spends every unused token of one purpose (a password change voids pending reset links). */
    voidTokensInTx,

    findTokenOwner: (purpose: TokenPurpose, tokenHash: string, now: Date): Promise<User | undefined> => tokenOwner(db, purpose, tokenHash, now),

    /** Spends a valid token and returns its owner (see spendInTx). */
    async spendTokenInTx(tx: Tx, purpose: TokenPurpose, tokenHash: string, now: Date): Promise<User | undefined> {
      return (await spendInTx(tx, purpose, tokenHash, now))?.owner;
    },
    /** The same, with what the token carried (an email change's new address). */
    spendTokenWithPayloadInTx: spendInTx,

    setNameInTx: async (tx: Tx, id: number, name: string): Promise<void> => {
      await tx.update(users).set({ name }).where(eq(users.id, id));
    },
    setDisplayInTx: async (tx: Tx, id: number, leaderboardDisplay: User['leaderboardDisplay']): Promise<void> => {
      await tx.update(users).set({ leaderboardDisplay }).where(eq(users.id, id));
    },
    /** A chosen code; the users trigger records it in referral_codes, whose key refuses one ever taken. */
    setCodeInTx: async (tx: Tx, id: number, referralCode: string, now: Date): Promise<void> => {
      await tx.update(users).set({ referralCode, codeChangedAt: now }).where(eq(users.id, id));
    },
    /** A new address, confirmed by the link it received (the unique index refuses one taken meanwhile). */
    setEmailInTx: async (tx: Tx, id: number, email: string, now: Date): Promise<User> =>
      (await tx.update(users).set({ email, emailNormalized: email.toLowerCase(), emailVerifiedAt: now }).where(eq(users.id, id)).returning())[0]!,
    /** Logs the user out everywhere but the session `keepSid`. */
    deleteOtherSessionsInTx: async (tx: Tx, userId: number, keepSid: string): Promise<void> => {
      await tx.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.sid, keepSid)));
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
