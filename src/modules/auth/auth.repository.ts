import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { users, type NewUser, type Referral, type User } from '../../db/schema.js';
import { creditInTx, type Tx } from '../referral/referral.repository.js';

/** Data access for accounts: Drizzle in, plain rows out. Knows nothing of HTTP. */
export function createUserRepository(db: Db) {
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  const byEmail = db.select().from(users).where(eq(users.emailNormalized, sql.placeholder('email'))).prepare();
  const byCode = db.select().from(users).where(eq(users.referralCode, sql.placeholder('code'))).prepare();

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
    setPasswordHash: (id: number, passwordHash: string): void => {
      db.update(users).set({ passwordHash }).where(eq(users.id, id)).run();
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
