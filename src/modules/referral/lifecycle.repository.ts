import { and, count, eq, gte, inArray, isNull, lt, ne, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { exec } from '../../db/sql.js';
import { referrals, users, userSignals, type Referral, type User } from '../../db/schema.js';

/**
 * Every change of a referral's status, each a conditional UPDATE that names the status it
 * leaves: of two concurrent attempts at the same transition exactly one changes the row,
 * and the other gets nothing back. All take the caller's transaction; none opens one.
 */

export type NewReferral = Pick<
  Referral,
  'referrerId' | 'referredUserId' | 'referredEmail' | 'source' | 'networkHash' | 'deviceHash' | 'emailAliasHash' | 'createdAt'
>;

export async function insertReferralInTx(tx: Tx, row: NewReferral): Promise<Referral> {
  const [inserted] = await tx
    .insert(referrals)
    .values({ ...row, status: 'pending' })
    .returning();
  return inserted!;
}

export const pendingReferralOfInTx = async (tx: Tx, referredUserId: number): Promise<Referral | undefined> =>
  (
    await tx
      .select()
      .from(referrals)
      .where(and(eq(referrals.referredUserId, referredUserId), eq(referrals.status, 'pending')))
      .limit(1)
  )[0];

/**
 * Credits a referral that is in one of `from`: the row and the referrer's count (and
 * "reached at" time) change together. Null when the row had already left those statuses
 * (a second confirmation, a double click on approve) or the referrer is not active.
 */
export async function creditInTx(tx: Tx, id: number, from: readonly Referral['status'][], now: Date): Promise<Referral | null> {
  const [referral] = await tx
    .update(referrals)
    .set({ status: 'credited', creditedAt: now, screenedAt: sql`coalesce(${referrals.screenedAt}, ${now.getTime()})` })
    .where(and(eq(referrals.id, id), inArray(referrals.status, [...from])))
    .returning();
  if (!referral) return null;
  const bumped = await tx
    .update(users)
    .set({ referralsCount: sql`${users.referralsCount} + 1`, lastReferralAt: now })
    .where(and(eq(users.id, referral.referrerId), eq(users.status, 'active')))
    .returning({ id: users.id });
  if (bumped.length !== 1) throw new ReferrerInactiveError();
  return referral;
}

/** Thrown inside a transaction so that it rolls back: the referrer was disabled meanwhile. */
export class ReferrerInactiveError extends Error {
  constructor() {
    super('referrer is not active');
    this.name = 'ReferrerInactiveError';
  }
}

export async function holdInTx(tx: Tx, id: number, reasons: readonly string[], now: Date): Promise<Referral | undefined> {
  const [held] = await tx
    .update(referrals)
    .set({ status: 'held', fraudReasons: reasons.join(','), screenedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'pending')))
    .returning();
  return held;
}

export async function rejectInTx(tx: Tx, id: number, now: Date): Promise<Referral | undefined> {
  const [rejected] = await tx
    .update(referrals)
    .set({ status: 'rejected', rejectedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'held')))
    .returning();
  return rejected;
}

/**
 * Revokes a credited referral: the row and the referrer's count change together. The
 * referrer's "reached at" time becomes that of their latest remaining credit, so ties
 * stay ordered by who reached the current count first.
 */
export async function revokeInTx(tx: Tx, id: number, now: Date): Promise<Referral | undefined> {
  const [referral] = await tx
    .update(referrals)
    .set({ status: 'revoked', revokedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'credited')))
    .returning();
  if (!referral) return undefined;
  await exec(tx, sql`
    update users set
      referrals_count = referrals_count - 1,
      last_referral_at = (select max(credited_at) from referrals where referrer_id = ${referral.referrerId} and status = 'credited')
    where id = ${referral.referrerId}`);
  return referral;
}

/**
 * The queries the fraud screen runs inside the credit's transaction: index lookups only
 * (see the indexes on referrals and user_signals). They run on the transaction's own
 * connection: on PostgreSQL a read on the pool from inside a unit of work would wait for
 * a second connection, and a busy pool would then deadlock.
 */
export const screenQueries = {
  referrer: async (tx: Tx, id: number): Promise<Pick<User, 'id' | 'email' | 'status'> | undefined> =>
    (await tx.select({ id: users.id, email: users.email, status: users.status }).from(users).where(eq(users.id, id)).limit(1))[0],

  userHasSignal: async (tx: Tx, userId: number, kind: 'network' | 'device', hash: string): Promise<boolean> =>
    (
      await tx
        .select({ id: userSignals.id })
        .from(userSignals)
        .where(and(eq(userSignals.userId, userId), eq(userSignals.kind, kind), eq(userSignals.hash, hash)))
        .limit(1)
    ).length > 0,

  /** Another referral (of anyone) to the same canonical mailbox. */
  aliasTaken: async (tx: Tx, emailAliasHash: string, exceptId: number): Promise<boolean> =>
    (
      await tx
        .select({ id: referrals.id })
        .from(referrals)
        .where(and(eq(referrals.emailAliasHash, emailAliasHash), ne(referrals.id, exceptId)))
        .limit(1)
    ).length > 0,

  /** Referrals of one referrer from one network created in [since, the referral itself). */
  earlierFromNetwork: async (tx: Tx, referral: Pick<Referral, 'id' | 'referrerId' | 'networkHash'>, since: Date): Promise<number> =>
    referral.networkHash === null
      ? 0
      : ((
          await tx
            .select({ n: count() })
            .from(referrals)
            .where(
              and(
                eq(referrals.referrerId, referral.referrerId),
                eq(referrals.networkHash, referral.networkHash),
                gte(referrals.createdAt, since),
                lt(referrals.id, referral.id),
              ),
            )
        )[0]?.n ?? 0),
};

export type ScreenQueries = typeof screenQueries;

/** Remembers where a person was seen (sign-up, login), once per distinct network or device. */
export async function recordSignalsInTx(tx: Tx, userId: number, hashes: { networkHash: string | null; deviceHash: string | null }, now: Date): Promise<void> {
  const rows = [
    hashes.networkHash ? { kind: 'network' as const, hash: hashes.networkHash } : null,
    hashes.deviceHash ? { kind: 'device' as const, hash: hashes.deviceHash } : null,
  ].filter((r) => r !== null);
  if (rows.length === 0) return;
  await tx
    .insert(userSignals)
    .values(rows.map((r) => ({ userId, ...r, firstSeenAt: now, lastSeenAt: now })))
    .onConflictDoUpdate({ target: [userSignals.userId, userSignals.kind, userSignals.hash], set: { lastSeenAt: now } });
}

/** Sets a user's referrer if they have none: false when another request got there first. */
export const claimReferrerInTx = async (tx: Tx, userId: number, referrerId: number): Promise<boolean> =>
  (
    await tx
      .update(users)
      .set({ referredById: referrerId })
      .where(and(eq(users.id, userId), isNull(users.referredById)))
      .returning({ id: users.id })
  ).length === 1;
