import { and, count, eq, gte, inArray, isNull, lt, ne, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
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

export function insertReferralInTx(tx: Tx, row: NewReferral): Referral {
  return tx
    .insert(referrals)
    .values({ ...row, status: 'pending' })
    .returning()
    .get();
}

export const pendingReferralOfInTx = (tx: Tx, referredUserId: number): Referral | undefined =>
  tx
    .select()
    .from(referrals)
    .where(and(eq(referrals.referredUserId, referredUserId), eq(referrals.status, 'pending')))
    .get();

export const referralByIdInTx = (tx: Tx, id: number): Referral | undefined => tx.select().from(referrals).where(eq(referrals.id, id)).get();

/**
 * Credits a referral that is in one of `from`: the row and the referrer's count (and
 * "reached at" time) change together. Null when the row had already left those statuses
 * (a second confirmation, a double click on approve) or the referrer is not active.
 */
export function creditInTx(tx: Tx, id: number, from: readonly Referral['status'][], now: Date): Referral | null {
  const referral = tx
    .update(referrals)
    .set({ status: 'credited', creditedAt: now, screenedAt: sql`coalesce(${referrals.screenedAt}, ${now.getTime()})` })
    .where(and(eq(referrals.id, id), inArray(referrals.status, [...from])))
    .returning()
    .get();
  if (!referral) return null;
  const bumped = tx
    .update(users)
    .set({ referralsCount: sql`${users.referralsCount} + 1`, lastReferralAt: now })
    .where(and(eq(users.id, referral.referrerId), eq(users.status, 'active')))
    .run();
  if (bumped.changes !== 1) throw new ReferrerInactiveError();
  return referral;
}

/** Thrown inside a transaction so that it rolls back: the referrer was disabled meanwhile. */
export class ReferrerInactiveError extends Error {
  constructor() {
    super('referrer is not active');
    this.name = 'ReferrerInactiveError';
  }
}

export function holdInTx(tx: Tx, id: number, reasons: readonly string[], now: Date): Referral | undefined {
  return tx
    .update(referrals)
    .set({ status: 'held', fraudReasons: reasons.join(','), screenedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'pending')))
    .returning()
    .get();
}

export function rejectInTx(tx: Tx, id: number, now: Date): Referral | undefined {
  return tx
    .update(referrals)
    .set({ status: 'rejected', rejectedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'held')))
    .returning()
    .get();
}

/**
 * Revokes a credited referral: the row and the referrer's count change together. The
 * referrer's "reached at" time becomes that of their latest remaining credit, so ties
 * stay ordered by who reached the current count first.
 */
export function revokeInTx(tx: Tx, id: number, now: Date): Referral | undefined {
  const referral = tx
    .update(referrals)
    .set({ status: 'revoked', revokedAt: now })
    .where(and(eq(referrals.id, id), eq(referrals.status, 'credited')))
    .returning()
    .get();
  if (!referral) return undefined;
  tx.run(sql`
    update users set
      referrals_count = referrals_count - 1,
      last_referral_at = (select max(credited_at) from referrals where referrer_id = ${referral.referrerId} and status = 'credited')
    where id = ${referral.referrerId}`);
  return referral;
}

/**
 * The queries the fraud screen runs inside the credit's transaction: index lookups only
 * (see the indexes on referrals and user_signals), prepared once, because building and
 * preparing a statement per call would cost more than the lookups themselves. SQLite has
 * one connection per process, so a statement prepared on it runs inside whatever
 * transaction is open on it.
 */
export function createScreenQueries(db: Db) {
  const p = sql.placeholder;
  const referrer = db
    .select({ id: users.id, email: users.email, status: users.status })
    .from(users)
    .where(eq(users.id, p('id')))
    .prepare();
  const signal = db
    .select({ id: userSignals.id })
    .from(userSignals)
    .where(and(eq(userSignals.userId, p('userId')), eq(userSignals.kind, p('kind')), eq(userSignals.hash, p('hash'))))
    .prepare();
  const alias = db
    .select({ id: referrals.id })
    .from(referrals)
    .where(and(eq(referrals.emailAliasHash, p('hash')), ne(referrals.id, p('exceptId'))))
    .limit(1)
    .prepare();
  const earlier = db
    .select({ n: count() })
    .from(referrals)
    .where(
      and(
        eq(referrals.referrerId, p('referrerId')),
        eq(referrals.networkHash, p('networkHash')),
        gte(referrals.createdAt, p('since')),
        lt(referrals.id, p('id')),
      ),
    )
    .prepare();
  return {
    referrer: (id: number): Pick<User, 'id' | 'email' | 'status'> | undefined => referrer.get({ id }),
    userHasSignal: (userId: number, kind: 'network' | 'device', hash: string): boolean => signal.get({ userId, kind, hash }) !== undefined,
    /** Another referral (of anyone) to the same canonical mailbox. */
    aliasTaken: (emailAliasHash: string, exceptId: number): boolean => alias.get({ hash: emailAliasHash, exceptId }) !== undefined,
    /** Referrals of one referrer from one network created in [since, the referral itself). */
    earlierFromNetwork: (referral: Pick<Referral, 'id' | 'referrerId' | 'networkHash'>, since: Date): number =>
      referral.networkHash === null
        ? 0
        : (earlier.get({ referrerId: referral.referrerId, networkHash: referral.networkHash, since: since.getTime(), id: referral.id })?.n ?? 0),
  };
}

export type ScreenQueries = ReturnType<typeof createScreenQueries>;

/** Remembers where a person was seen (sign-up, login), once per distinct network or device. */
export function recordSignalsInTx(tx: Tx, userId: number, hashes: { networkHash: string | null; deviceHash: string | null }, now: Date): void {
  const rows = [
    hashes.networkHash ? { kind: 'network' as const, hash: hashes.networkHash } : null,
    hashes.deviceHash ? { kind: 'device' as const, hash: hashes.deviceHash } : null,
  ].filter((r) => r !== null);
  if (rows.length === 0) return;
  tx.insert(userSignals)
    .values(rows.map((r) => ({ userId, ...r, firstSeenAt: now, lastSeenAt: now })))
    .onConflictDoUpdate({ target: [userSignals.userId, userSignals.kind, userSignals.hash], set: { lastSeenAt: now } })
    .run();
}

/** Sets a user's referrer if they have none: false when another request got there first. */
export const claimReferrerInTx = (tx: Tx, userId: number, referrerId: number): boolean =>
  tx
    .update(users)
    .set({ referredById: referrerId })
    .where(and(eq(users.id, userId), isNull(users.referredById)))
    .run().changes === 1;
