import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { exec, rows } from '../../db/sql.js';
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
  await exec(
    tx,
    sql`
    update users set
      referrals_count = referrals_count - 1,
      last_referral_at = (select max(credited_at) from referrals where referrer_id = ${referral.referrerId} and status = 'credited')
    where id = ${referral.referrerId}`,
  );
  return referral;
}

/** What the fraud screen needs to know about a referral's referrer, read in one statement. */
export interface ScreenFacts {
  referrerEmail: string;
  referrerStatus: User['status'];
  /** The referrer signed up or logged in from the referral's network. */
  sameNetwork: boolean;
  /** The referrer used the referral's device cookie. */
  sameDevice: boolean;
  /** Another referral (of anyone) went to the same canonical mailbox. */
  aliasTaken: boolean;
  /** Referrals of the referrer from the same network, made in [since, this one). */
  earlierFromNetwork: number;
}

/**
 * The fraud screen's reads, as one statement of index lookups (see the indexes on
 * referrals and user_signals): one round trip on PostgreSQL instead of four. It runs on
 * the transaction's own connection: on a pool, a read on another connection from inside
 * a unit of work would wait for a second connection and deadlock a busy pool.
 */
export async function screenFactsInTx(tx: Tx, referral: Referral, since: Date): Promise<ScreenFacts | undefined> {
  const [row] = await rows<{
    email: string;
    status: User['status'];
    same_network: unknown;
    same_device: unknown;
    alias_taken: unknown;
    earlier: unknown;
  }>(
    tx,
    sql`
    select u.email, u.status,
      exists (select 1 from user_signals s where s.user_id = u.id and s.kind = 'network' and s.hash = ${referral.networkHash}) as same_network,
      exists (select 1 from user_signals s where s.user_id = u.id and s.kind = 'device' and s.hash = ${referral.deviceHash}) as same_device,
      exists (select 1 from referrals r where r.email_alias_hash = ${referral.emailAliasHash} and r.id <> ${referral.id}) as alias_taken,
      (select count(*) from referrals r
        where r.referrer_id = u.id and r.network_hash = ${referral.networkHash}
          and r.created_at >= ${since.getTime()} and r.id < ${referral.id}) as earlier
    from users u where u.id = ${referral.referrerId}`,
  );
  if (!row) return undefined;
  // SQLite answers exists() with 0/1, PostgreSQL with booleans; counts may be bigint.
  return {
    referrerEmail: row.email,
    referrerStatus: row.status,
    sameNetwork: Boolean(row.same_network),
    sameDevice: Boolean(row.same_device),
    aliasTaken: Boolean(row.alias_taken),
    earlierFromNetwork: Number(row.earlier),
  };
}

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
