import { and, asc, count, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { appState, referralClicks, referrals, users, type Referral, type User } from '../../db/schema.js';
import { AppError } from '../../errors.js';

/** A transaction handle or the database itself: both run Drizzle queries. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface CreditInput {
  referrerId: number;
  referredUserId: number;
  referredEmail: string;
  source: Referral['source'];
  now: Date;
}

export const REFERRER_INACTIVE = 'That referral code belongs to an account that is no longer active.';

/**
 * Credits one referral: the row and the referrer's count change together or not at all.
 * Must run inside the caller's transaction (sign-up, apply, admin) so that whatever else
 * that event writes commits with it.
 */
export function creditInTx(tx: Tx, input: CreditInput): Referral {
  const bumped = tx
    .update(users)
    .set({ referralsCount: sql`${users.referralsCount} + 1`, lastReferralAt: input.now })
    .where(and(eq(users.id, input.referrerId), eq(users.status, 'active')))
    .run();
  if (bumped.changes !== 1) throw new AppError(400, REFERRER_INACTIVE, { code: 'referrer_inactive', field: 'referral_code' });
  return tx
    .insert(referrals)
    .values({
      referrerId: input.referrerId,
      referredUserId: input.referredUserId,
      referredEmail: input.referredEmail,
      source: input.source,
      status: 'credited',
      createdAt: input.now,
    })
    .returning()
    .get();
}

const RANKED = sql`${users.status} = 'active' and ${users.referralsCount} > 0`;

export interface RankedRow {
  name: string;
  referrals: number;
}

export function createReferralRepository(db: Db) {
  const versionStmt = db
    .select({ value: appState.value })
    .from(appState)
    .where(eq(appState.key, 'leaderboard_version'))
    .prepare();

  const pageStmt = db
    .select({ name: users.name, referrals: users.referralsCount })
    .from(users)
    .where(RANKED)
    .orderBy(desc(users.referralsCount), asc(users.lastReferralAt), asc(users.id))
    .limit(sql.placeholder('limit'))
    .offset(sql.placeholder('offset'))
    .prepare();

  const totalStmt = db.select({ n: count() }).from(users).where(RANKED).prepare();

  const aboveStmt = db
    .select({ n: count() })
    .from(users)
    .where(and(RANKED, gt(users.referralsCount, sql.placeholder('referrals'))))
    .prepare();

  // Users ordered before this one: more referrals, or as many but reached first.
  const positionStmt = db
    .select({ n: count() })
    .from(users)
    .where(
      and(
        RANKED,
        sql`(${users.referralsCount} > ${sql.placeholder('referrals')}
          or (${users.referralsCount} = ${sql.placeholder('referrals')}
              and (${users.lastReferralAt} < ${sql.placeholder('at')}
                   or (${users.lastReferralAt} = ${sql.placeholder('at')} and ${users.id} < ${sql.placeholder('id')}))))`,
      ),
    )
    .prepare();

  const clicksStmt = db
    .select({ n: count() })
    .from(referralClicks)
    .where(eq(referralClicks.referrerId, sql.placeholder('id')))
    .prepare();

  const insertClickStmt = db
    .insert(referralClicks)
    .values({
      referrerId: sql.placeholder('referrerId'),
      ipHash: sql.placeholder('ipHash'),
      userAgentHash: sql.placeholder('userAgentHash'),
      createdAt: sql.placeholder('createdAt'),
    })
    .prepare();

  return {
    leaderboardVersion: (): number => versionStmt.get()?.value ?? 0,
    rankedPage: (offset: number, limit: number): RankedRow[] => pageStmt.all({ offset, limit }),
    totalRanked: (): number => totalStmt.get()?.n ?? 0,
    countAbove: (referralsCount: number): number => aboveStmt.get({ referrals: referralsCount })?.n ?? 0,
    positionOf: (user: Pick<User, 'id' | 'referralsCount' | 'lastReferralAt'>): number =>
      positionStmt.get({ referrals: user.referralsCount, at: user.lastReferralAt?.getTime() ?? 0, id: user.id })?.n ?? 0,

    recordClick(click: { referrerId: number; ipHash: string; userAgentHash: string; at: Date }): void {
      insertClickStmt.run({ referrerId: click.referrerId, ipHash: click.ipHash, userAgentHash: click.userAgentHash, createdAt: click.at });
    },
    clicksFor: (referrerId: number): number => clicksStmt.get({ id: referrerId })?.n ?? 0,

    /** People this user referred, newest first, with credited and revoked ones marked. */
    referredBy(referrerId: number, limit: number) {
      return db
        .select({ name: users.name, createdAt: referrals.createdAt, status: referrals.status, source: referrals.source })
        .from(referrals)
        .innerJoin(users, eq(users.id, referrals.referredUserId))
        .where(eq(referrals.referrerId, referrerId))
        .orderBy(desc(referrals.createdAt), desc(referrals.id))
        .limit(limit)
        .all();
    },

    /** Referrals per day for one referrer since a date, for the dashboard chart. */
    dailyCredited(referrerId: number, since: Date) {
      return db
        .select({
          day: sql<string>`strftime('%Y-%m-%d', ${referrals.createdAt} / 1000, 'unixepoch')`.as('day'),
          n: count(),
        })
        .from(referrals)
        .where(and(eq(referrals.referrerId, referrerId), eq(referrals.status, 'credited'), sql`${referrals.createdAt} >= ${since.getTime()}`))
        .groupBy(sql`day`)
        .orderBy(sql`day`)
        .all();
    },

    /** True when `userId` sits anywhere above `referrerId` in the referral chain (a cycle). */
    isAncestor(userId: number, referrerId: number): boolean {
      const row = db.get<{ found: number }>(sql`
        with recursive chain(id, depth) as (
          select ${referrerId}, 0
          union all
          select u.referred_by_id, chain.depth + 1 from users u join chain on u.id = chain.id
          where u.referred_by_id is not null and chain.depth < 10000
        )
        select count(*) as found from chain where id = ${userId}`);
      return (row?.found ?? 0) > 0;
    },

    /**
     * Applies a referrer to an existing user. The conditional update is the lock: of ten
     * simultaneous applies by one user, exactly one finds referred_by_id still null.
     */
    applyReferral(input: { user: Pick<User, 'id' | 'email'>; referrerId: number; now: Date; inSameTx?: (tx: Tx, referral: Referral) => void }): Referral | null {
      return db.transaction((tx) => {
        const claimed = tx
          .update(users)
          .set({ referredById: input.referrerId })
          .where(and(eq(users.id, input.user.id), isNull(users.referredById)))
          .run();
        if (claimed.changes !== 1) return null;
        const referral = creditInTx(tx, {
          referrerId: input.referrerId,
          referredUserId: input.user.id,
          referredEmail: input.user.email,
          source: 'applied',
          now: input.now,
        });
        input.inSameTx?.(tx, referral);
        return referral;
      });
    },
  };
}

export type ReferralRepository = ReturnType<typeof createReferralRepository>;
