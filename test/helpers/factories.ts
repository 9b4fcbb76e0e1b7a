import bcrypt from 'bcrypt';
import type { Db } from '../../src/db/client.js';
import { users, type User } from '../../src/db/schema.js';
import { generateReferralCode } from '../../src/modules/referral/referral-code.js';
import { STRONG_PASSWORD } from './forms.js';

// One cost-4 hash for every factory user: the password is STRONG_PASSWORD.
const HASH = bcrypt.hashSync(STRONG_PASSWORD, 4);
let n = 0;

export interface UserFields {
  name?: string;
  email?: string;
  referralsCount?: number;
  lastReferralAt?: Date | null;
  status?: User['status'];
  role?: User['role'];
  createdAt?: Date;
  referredById?: number | null;
}

/**
 * Inserts a user row directly, for tests that need many ranked users fast. Counts set
 * here have no referral rows behind them: use the HTTP flows when that matters.
 */
export function insertUser(db: Db, fields: UserFields = {}): User {
  n += 1;
  const email = fields.email ?? `factory${n}.${process.pid}@example.com`;
  return db
    .insert(users)
    .values({
      name: fields.name ?? `Factory ${n}`,
      email,
      emailNormalized: email.toLowerCase(),
      passwordHash: HASH,
      referralCode: generateReferralCode(),
      referralsCount: fields.referralsCount ?? 0,
      lastReferralAt: fields.lastReferralAt ?? (fields.referralsCount ? new Date(Date.UTC(2026, 0, 1, 0, 0, n)) : null),
      status: fields.status ?? 'active',
      role: fields.role ?? 'user',
      createdAt: fields.createdAt ?? new Date('2026-01-15T12:00:00Z'),
      referredById: fields.referredById ?? null,
    })
    .returning()
    .get();
}

export function userByEmail(db: Db, email: string): User | undefined {
  return db.$client.prepare('select id from users where email_normalized = ?').get(email.toLowerCase()) as User | undefined;
}

export function countOf(db: Db, sqlText: string, ...params: unknown[]): number {
  const row = db.$client.prepare(sqlText).get(...params) as Record<string, number>;
  return Number(Object.values(row)[0]);
}
