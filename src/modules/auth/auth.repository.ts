import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { users, type NewUser, type User } from '../../db/schema.js';

/** Data access for accounts: Drizzle in, plain rows out. Knows nothing of HTTP. */
export function createUserRepository(db: Db) {
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  const byEmail = db.select().from(users).where(eq(users.emailNormalized, sql.placeholder('email'))).prepare();
  const byCode = db.select().from(users).where(eq(users.referralCode, sql.placeholder('code'))).prepare();

  return {
    findById: (id: number): User | undefined => byId.get({ id }),
    findByEmail: (emailNormalized: string): User | undefined => byEmail.get({ email: emailNormalized }),
    findByCode: (code: string): User | undefined => byCode.get({ code }),
    insert: (user: NewUser): User => db.insert(users).values(user).returning().get(),
    setRole: (id: number, role: User['role']): void => {
      db.update(users).set({ role }).where(eq(users.id, id)).run();
    },
    setPasswordHash: (id: number, passwordHash: string): void => {
      db.update(users).set({ passwordHash }).where(eq(users.id, id)).run();
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
