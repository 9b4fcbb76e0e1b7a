import type { Attribution } from './channels.js';
import { and, asc, count, desc, eq, gt, gte, lte, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { prepared, rows } from '../../db/sql.js';
import { DAY_MS } from '../../clock.js';
import { appState, referralClicks, referralDays, referrals, scoreCounts, users, type LeaderboardDisplay, type Referral } from '../../db/schema.js';

export const REFERRER_INACTIVE = 'That referral code belongs to an account that is no longer active.';

/** A row of the ranking with its sort key; the key stays on the server (ids are never public). */
export interface RankedRow {
  id: number;
  name: string;
  display: LeaderboardDisplay;
  referrals: number;
  reachedAt: number;
}

/**
 * A ranking (all time, or one month) as the leaderboard reads it: pages by offset, by
 * tie group or by key, and the score groups that give ranks and totals.
 */
export interface RankingSource {
  rankedPage(offset: number, limit: number): Promise<RankedRow[]>;
  rankedFromGroup(score: number, skip: number, limit: number): Promise<RankedRow[]>;
  rankedAfter(key: RankKey, limit: number): Promise<RankedRow[]>;
  rankedBefore(key: RankKey, limit: number): Promise<RankedRow[]>;
  totalRanked(): Promise<number>;
  scoresBetween(low: number, high: number): Promise<{ score: number; users: number }[]>;
  scoreGroups(): Promise<{ score: number; users: number }[]>;
  countAbove(referralsCount: number): Promise<number>;
}

/** The sort key of a ranked user: count (desc), then when they reached it, then id. */
export interface RankKey {
  referrals: number;
  reachedAt: number;
  id: number;
}

/**
 * How fresh the ranking version must be. On SQLite reading it costs microseconds, so it
 * is read every time. On PostgreSQL a read is a round trip per request, so a value up to
 * `versionTtlMs` old is reused, unless this process committed something since (its own
 * changes show at once; other servers' within the TTL, well inside the one second the
 * product promises).
 */
export interface VersionFreshness {
  versionTtlMs: number;
  commits: () => number;
}

export function createReferralRepository(db: Db, freshness: VersionFreshness = { versionTtlMs: 0, commits: () => 0 }) {
  // Read on every leaderboard request by every worker.
  const versionStmt = prepared(db.select({ value: appState.value }).from(appState).where(eq(appState.key, 'leaderboard_version')));
  const RANKED = sql`${users.status} = 'active' and ${users.referralsCount} > 0`;
  let memo: { value: number; at: number; commits: number } | undefined;

  const rankedColumns = {
    id: users.id,
    name: users.name,
    display: users.leaderboardDisplay,
    referrals: users.referralsCount,
    reachedAt: sql<number>`${users.lastReferralAt}`.mapWith(Number),
  };
  const rankOrder = [desc(users.referralsCount), asc(users.lastReferralAt), asc(users.id)] as const;
  const p = {
    referrals: sql.placeholder('referrals'),
    at: sql.placeholder('at'),
    id: sql.placeholder('id'),
    limit: sql.placeholder('limit'),
  };

  const pageStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(RANKED)
      .orderBy(...rankOrder)
      .limit(p.limit)
      .offset(sql.placeholder('offset')),
  );
  // A deep page starts inside one tie group (found from score_counts by the caller), so
  // OFFSET only ever walks that group, never every higher-ranked user.
  const inGroupStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(and(RANKED, sql`${users.referralsCount} = ${p.referrals}`))
      .orderBy(...rankOrder)
      .limit(p.limit)
      .offset(sql.placeholder('offset')),
  );

  // Seeking by key, in two index ranges each: the rest of the key's tie group, then
  // the neighbouring scores. Both are ranges of users_ranking_idx, so the cost does not
  // depend on how deep in the ranking the key is.
  const afterSameScoreStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(and(RANKED, sql`${users.referralsCount} = ${p.referrals} and (${users.lastReferralAt}, ${users.id}) > (${p.at}, ${p.id})`))
      .orderBy(...rankOrder)
      .limit(p.limit),
  );
  const afterLowerScoresStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(and(RANKED, sql`${users.referralsCount} < ${p.referrals}`))
      .orderBy(...rankOrder)
      .limit(p.limit),
  );
  const beforeSameScoreStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(and(RANKED, sql`${users.referralsCount} = ${p.referrals} and (${users.lastReferralAt}, ${users.id}) < (${p.at}, ${p.id})`))
      .orderBy(asc(users.referralsCount), desc(users.lastReferralAt), desc(users.id))
      .limit(p.limit),
  );
  const beforeHigherScoresStmt = prepared(
    db
      .select(rankedColumns)
      .from(users)
      .where(and(RANKED, sql`${users.referralsCount} > ${p.referrals}`))
      .orderBy(asc(users.referralsCount), desc(users.lastReferralAt), desc(users.id))
      .limit(p.limit),
  );

  const totalStmt = prepared(db.select({ n: sql<number>`coalesce(sum(${scoreCounts.users}), 0)`.mapWith(Number) }).from(scoreCounts));
  const scoresBetweenStmt = prepared(
    db
      .select({ score: scoreCounts.score, users: scoreCounts.users })
      .from(scoreCounts)
      .where(and(gt(scoreCounts.score, sql.placeholder('low')), lte(scoreCounts.score, sql.placeholder('high'))))
      .orderBy(desc(scoreCounts.score)),
  );
  const aboveStmt = prepared(
    db
      .select({ n: sql<number>`coalesce(sum(${scoreCounts.users}), 0)`.mapWith(Number) })
      .from(scoreCounts)
      .where(gt(scoreCounts.score, sql.placeholder('referrals'))),
  );

  const referredByStmt = prepared(
    db
      .select({ name: users.name, createdAt: referrals.createdAt, status: referrals.status, source: referrals.source })
      .from(referrals)
      .innerJoin(users, eq(users.id, referrals.referredUserId))
      .where(eq(referrals.referrerId, sql.placeholder('id')))
      .orderBy(desc(referrals.createdAt), desc(referrals.id))
      .limit(sql.placeholder('limit')),
  );

  // referral_days holds one row per referrer and UTC day (kept by triggers): 30 rows at
  // most, however many referrals the user has.
  const dailyStmt = prepared(
    db
      .select({ day: referralDays.day, n: referralDays.credited })
      .from(referralDays)
      .where(and(eq(referralDays.referrerId, sql.placeholder('id')), gte(referralDays.day, sql.placeholder('since')))),
  );

  // Only the two waiting statuses: a range of referrals_referrer_status_idx, however many
  // credited referrals the user has.
  const waitingStmt = prepared(
    db
      .select({ status: referrals.status, n: count() })
      .from(referrals)
      .where(and(eq(referrals.referrerId, sql.placeholder('id')), sql`${referrals.status} in ('pending', 'held')`))
      .groupBy(referrals.status),
  );

  const keyParams = (key: RankKey, limit: number) => ({ referrals: key.referrals, at: key.reachedAt, id: key.id, limit });

  const clicksStmt = prepared(
    db
      .select({ n: count() })
      .from(referralClicks)
      .where(eq(referralClicks.referrerId, sql.placeholder('id'))),
  );

  return {
    async leaderboardVersion(): Promise<number> {
      const now = Date.now();
      if (memo && now - memo.at < freshness.versionTtlMs && memo.commits === freshness.commits()) return memo.value;
      const commits = freshness.commits();
      const value = (await versionStmt.get())?.value ?? 0;
      memo = { value, at: now, commits };
      return value;
    },
    rankedPage: async (offset: number, limit: number): Promise<RankedRow[]> => pageStmt.all({ offset, limit }),
    /**
     * Up to `limit` ranked users in ranking order, starting `skip` rows into the tie group
     * of `score` and continuing into the lower scores when the group runs out. (A user
     * moving between groups between the two reads can show on two deep pages for one
     * render: harmless, and cheaper than a read transaction for every deep page.)
     */
    async rankedFromGroup(score: number, skip: number, limit: number): Promise<RankedRow[]> {
      const rows = await inGroupStmt.all({ referrals: score, offset: skip, limit });
      return rows.length < limit ? rows.concat(await afterLowerScoresStmt.all({ referrals: score, limit: limit - rows.length })) : rows;
    },
    /** Up to `limit` ranked users right after `key`, in ranking order. */
    async rankedAfter(key: RankKey, limit: number): Promise<RankedRow[]> {
      const rows = await afterSameScoreStmt.all(keyParams(key, limit));
      return rows.length < limit ? rows.concat(await afterLowerScoresStmt.all(keyParams(key, limit - rows.length))) : rows;
    },
    /** Up to `limit` ranked users right before `key`, in ranking order. */
    async rankedBefore(key: RankKey, limit: number): Promise<RankedRow[]> {
      const rows = await beforeSameScoreStmt.all(keyParams(key, limit));
      const more = rows.length < limit ? await beforeHigherScoresStmt.all(keyParams(key, limit - rows.length)) : [];
      return rows.concat(more).reverse();
    },
    /** Ranked users in all: a sum over score_counts, not a count over users. */
    totalRanked: async (): Promise<number> => (await totalStmt.get())?.n ?? 0,
    /** score_counts rows with low < score <= high, highest first: the ranks of a window of rows. */
    scoresBetween: async (low: number, high: number): Promise<{ score: number; users: number }[]> => scoresBetweenStmt.all({ low, high }),
    /** Every score_counts row, highest first: the size of every tie group. */
    scoreGroups: async (): Promise<{ score: number; users: number }[]> => scoresBetweenStmt.all({ low: 0, high: 2_147_483_647 }),
    /** Ranked users with more referrals than this: one less than the competition rank. */
    countAbove: async (referralsCount: number): Promise<number> => (await aboveStmt.get({ referrals: referralsCount }))?.n ?? 0,

    async recordClickInTx(tx: Tx, click: { referrerId: number; ipHash: string; userAgentHash: string; at: Date; attribution: Attribution }): Promise<void> {
      await tx.insert(referralClicks).values({
        referrerId: click.referrerId,
        ipHash: click.ipHash,
        userAgentHash: click.userAgentHash,
        ...click.attribution,
        createdAt: click.at,
      });
    },
    clicksFor: async (referrerId: number): Promise<number> => (await clicksStmt.get({ id: referrerId }))?.n ?? 0,

    /** People this user referred, newest first, each with the status of their referral. */
    referredBy: async (referrerId: number, limit: number) => referredByStmt.all({ id: referrerId, limit }),

    /** Referrals per day for one referrer since a date, for the dashboard chart. */
    dailyCredited: async (referrerId: number, since: Date) =>
      (await dailyStmt.all({ id: referrerId, since: Math.floor(since.getTime() / DAY_MS) })).map((r) => ({
        day: new Date(r.day * DAY_MS).toISOString().slice(0, 10),
        n: r.n,
      })),

    /** A referrer's referrals still waiting: for the friend's confirmation (pending) or for review (held). */
    async waitingFor(referrerId: number): Promise<{ pending: number; held: number }> {
      const counts = { pending: 0, held: 0 };
      for (const row of await waitingStmt.all({ id: referrerId })) if (row.status === 'pending' || row.status === 'held') counts[row.status] = row.n;
      return counts;
    },

    /** True when `userId` sits anywhere above `referrerId` in the referral chain (a cycle). */
    /** Every referral a person made, oldest first, with the friend's name: for their data export. */
    madeBy: (referrerId: number) =>
      db
        .select({ referral: referrals, friendName: users.name })
        .from(referrals)
        .innerJoin(users, eq(users.id, referrals.referredUserId))
        .where(eq(referrals.referrerId, referrerId))
        .orderBy(asc(referrals.id)),

    byId: async (id: number): Promise<Referral | undefined> => (await db.select().from(referrals).where(eq(referrals.id, id)).limit(1))[0],
    ofReferred: async (userId: number): Promise<Referral | undefined> =>
      (await db.select().from(referrals).where(eq(referrals.referredUserId, userId)).limit(1))[0],

    /** Referrals in id order after `afterId`, optionally of one status or referrer: the API's cursor pages. */
    list: (filter: { status?: Referral['status'] | undefined; referrerId?: number | undefined; afterId: number; limit: number }): Promise<Referral[]> =>
      db
        .select()
        .from(referrals)
        .where(
          and(
            gt(referrals.id, filter.afterId),
            filter.status ? eq(referrals.status, filter.status) : undefined,
            filter.referrerId !== undefined ? eq(referrals.referrerId, filter.referrerId) : undefined,
          ),
        )
        .orderBy(asc(referrals.id))
        .limit(filter.limit),

    async isAncestor(userId: number, referrerId: number): Promise<boolean> {
      const [row] = await rows<{ found: number }>(
        db,
        sql`
        with recursive chain(id, depth) as (
          select cast(${referrerId} as integer), 0
          union all
          select u.referred_by_id, chain.depth + 1 from users u join chain on u.id = chain.id
          where u.referred_by_id is not null and chain.depth < 10000
        )
        select count(*) as found from chain where id = ${userId}`,
      );
      return Number(row?.found ?? 0) > 0;
    },
  };
}

export type ReferralRepository = ReturnType<typeof createReferralRepository>;
