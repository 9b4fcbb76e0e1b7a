import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { passwordResetTokens, sessions, users, type NewUser, type Referral, type User } from '../../db/schema.js';
import { creditInTx, type Tx } from '../referral/referral.repository.js';

/** Data access for accounts: Drizzle in, plain rows out. Knows nothing of HTTP. */
export function createUserRepository(db: Db) {
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  const byEmail = db.select().from(users).where(eq(users.emailNormalized, sql.placeholder('email'))).prepare();
  const byCode = db.select().from(users).where(eq(users.referralCode, sql.placeholder('code'))).prepare();

  /** The user behind an unused, unexpired token of an active account. */
  function findByResetToken(tokenHash: string, now: Date): User | undefined {
    return db
      .select({ user: users })
      .from(passwordResetTokens)
      .innerJoin(users, eq(users.id, passwordResetTokens.userId))
      .where(
        and(
          eq(passwordResetTokens.tokenHash, tokenHash),
          isNull(passwordResetTokens.usedAt),
          gt(passwordResetTokens.expiresAt, now),
          eq(users.status, 'active'),
        ),
      )
      .get()?.user;
  }

  return {
    findById: (id: number): User | undefined => byId.get({ id }),
    findByEmail: (emailNormalized: string): User | undefined => byEmail.get({ email: emailNormalized }),
    findByCode: (code: string): User | undefined => byCode.get({ code }),
    /**
     * Creates the account and, when it came with a valid code, credits the referrer: one
     * transaction, so there is never a user without their referral or a count without
     * its row. `inSameTx` lets the caller add what the same event must also write.
     */
    createAccount(
      user: NewUser,
      referrerId: number | null,
      inSameTx?: (tx: Tx, created: User, referral: Referral | null) => void,
    ): User {
      return db.transaction((tx) => {
        const created = tx
          .insert(users)
          .values({ ...user, referredById: referrerId })
          .returning()
          .get();
        const referral =
          referrerId === null
            ? null
            : creditInTx(tx, {
                referrerId,
                referredUserId: created.id,
                referredEmail: created.email,
                source: 'signup',
                now: created.createdAt,
              });
        inSameTx?.(tx, created, referral);
        return created;
      });
    },
    setRole: (id: number, role: User['role']): void => {
      db.update(users).set({ role }).where(eq(users.id, id)).run();
    },
    setNotifyReferrals: (id: number, notifyReferrals: boolean): void => {
      db.update(users).set({ notifyReferrals }).where(eq(users.id, id)).run();
    },

    /** Stores a new reset token (its hash) and voids every older unused one of the user. */
    createResetToken(input: { userId: number; tokenHash: string; expiresAt: Date; now: Date }, inSameTx?: (tx: Tx) => void): void {
      db.transaction((tx) => {
        tx.update(passwordResetTokens)
          .set({ usedAt: input.now })
          .where(and(eq(passwordResetTokens.userId, input.userId), isNull(passwordResetTokens.usedAt)))
          .run();
        tx.insert(passwordResetTokens)
          .values({ userId: input.userId, tokenHash: input.tokenHash, expiresAt: input.expiresAt, createdAt: input.now })
          .run();
        inSameTx?.(tx);
      });
    },

    findByResetToken,

    /**
     * Spends the token and sets the new password; every session of the user and every
     * other open token die in the same transaction. Returns null if the token was spent
     * in the meantime (two tabs submitting at once): exactly one wins.
     */
    resetPassword(input: { tokenHash: string; passwordHash: string; now: Date }, inSameTx?: (tx: Tx, user: User) => void): User | null {
      return db.transaction((tx) => {
        const owner = findByResetToken(input.tokenHash, input.now);
        if (!owner) return null;
        const spent = tx
          .update(passwordResetTokens)
          .set({ usedAt: input.now })
          .where(and(eq(passwordResetTokens.tokenHash, input.tokenHash), isNull(passwordResetTokens.usedAt)))
          .run();
        if (spent.changes !== 1) return null;
        const user = tx.update(users).set({ passwordHash: input.passwordHash }).where(eq(users.id, owner.id)).returning().get();
        tx.update(passwordResetTokens)
          .set({ usedAt: input.now })
          .where(and(eq(passwordResetTokens.userId, user.id), isNull(passwordResetTokens.usedAt)))
          .run();
        tx.delete(sessions).where(eq(sessions.userId, user.id)).run();
        inSameTx?.(tx, user);
        return user;
      });
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
