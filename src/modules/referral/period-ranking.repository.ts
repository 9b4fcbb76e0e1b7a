import { and, asc, desc, eq, gt, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { prepared } from '../../db/sql.js';
import { periodScoreCounts, periodScores } from '../../db/schema.js';
import type { RankedRow, RankingSource, RankKey } from './referral.repository.js';

/**
 * The ranking of one UTC month, from period_scores (credited referrals per referrer and
 * month, with when they reached that count) and period_score_counts (how many active
 * referrers hold each count in the month), both kept by triggers in the transaction of
 * every credit and revocation (migration 0018 / PostgreSQL 0008). The statements mirror
 * the all-time ones in referral.repository.ts: a page is a range of
 * period_scores_ranking_idx, which holds only active referrers and covers their names
 * (copied from users by triggers, migration 0023 / PostgreSQL 0013), so no user is read;
 * a rank is a sum over a few hundred score groups, whatever the number of users.
 */
export function createPeriodRanking(db: Db) {
  const columns = {
    id: periodScores.userId,
    name: periodScores.name,
    display: periodScores.leaderboardDisplay,
    referrals: periodScores.referrals,
    reachedAt: sql<number>`${periodScores.reachedAt}`.mapWith(Number),
  };
  const p = {
    period: sql.placeholder('period'),
    referrals: sql.placeholder('referrals'),
    at: sql.placeholder('at'),
    id: sql.placeholder('id'),
    limit: sql.placeholder('limit'),
  };
  // Literals, not parameters, so the planner can see the ranking index's predicate holds.
  const RANKED = and(eq(periodScores.period, p.period), sql`${periodScores.status} = 'active' and ${periodScores.referrals} > 0`);
  const order = [desc(periodScores.referrals), asc(periodScores.reachedAt), asc(periodScores.userId)] as const;
  const reverse = [asc(periodScores.referrals), desc(periodScores.reachedAt), desc(periodScores.userId)] as const;
  const rows = () => db.select(columns).from(periodScores);

  const pageStmt = prepared(
    rows()
      .where(RANKED)
      .orderBy(...order)
      .limit(p.limit)
      .offset(sql.placeholder('offset')),
  );
  const inGroupStmt = prepared(
    rows()
      .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals}`))
      .orderBy(...order)
      .limit(p.limit)
      .offset(sql.placeholder('offset')),
  );
  const afterSameScoreStmt = prepared(
    rows()
      .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals} and (${periodScores.reachedAt}, ${periodScores.userId}) > (${p.at}, ${p.id})`))
      .orderBy(...order)
      .limit(p.limit),
  );
  const afterLowerScoresStmt = prepared(
    rows()
      .where(and(RANKED, sql`${periodScores.referrals} < ${p.referrals}`))
      .orderBy(...order)
      .limit(p.limit),
  );
  const beforeSameScoreStmt = prepared(
    rows()
      .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals} and (${periodScores.reachedAt}, ${periodScores.userId}) < (${p.at}, ${p.id})`))
      .orderBy(...reverse)
      .limit(p.limit),
  );
  const beforeHigherScoresStmt = prepared(
    rows()
      .where(and(RANKED, sql`${periodScores.referrals} > ${p.referrals}`))
      .orderBy(...reverse)
      .limit(p.limit),
  );
  const totalStmt = prepared(
    db
      .select({ n: sql<number>`coalesce(sum(${periodScoreCounts.users}), 0)`.mapWith(Number) })
      .from(periodScoreCounts)
      .where(eq(periodScoreCounts.period, p.period)),
  );
  const scoresBetweenStmt = prepared(
    db
      .select({ score: periodScoreCounts.score, users: periodScoreCounts.users })
      .from(periodScoreCounts)
      .where(
        and(
          eq(periodScoreCounts.period, p.period),
          gt(periodScoreCounts.score, sql.placeholder('low')),
          lte(periodScoreCounts.score, sql.placeholder('high')),
          gt(periodScoreCounts.users, 0),
        ),
      )
      .orderBy(desc(periodScoreCounts.score)),
  );
  const aboveStmt = prepared(
    db
      .select({ n: sql<number>`coalesce(sum(${periodScoreCounts.users}), 0)`.mapWith(Number) })
      .from(periodScoreCounts)
      .where(and(eq(periodScoreCounts.period, p.period), gt(periodScoreCounts.score, p.referrals))),
  );

  /** The ranking of one month (`period` = YYYYMM), with the all-time ranking's interface. */
  return function forPeriod(period: number): RankingSource {
    const keyParams = (key: RankKey, limit: number) => ({ period, referrals: key.referrals, at: key.reachedAt, id: key.id, limit });
    return {
      rankedPage: (offset, limit): Promise<RankedRow[]> => pageStmt.all({ period, offset, limit }),
      async rankedFromGroup(score, skip, limit) {
        const found = await inGroupStmt.all({ period, referrals: score, offset: skip, limit });
        return found.length < limit ? found.concat(await afterLowerScoresStmt.all({ period, referrals: score, limit: limit - found.length })) : found;
      },
      async rankedAfter(key, limit) {
        const found = await afterSameScoreStmt.all(keyParams(key, limit));
        return found.length < limit ? found.concat(await afterLowerScoresStmt.all(keyParams(key, limit - found.length))) : found;
      },
      async rankedBefore(key, limit) {
        const found = await beforeSameScoreStmt.all(keyParams(key, limit));
        const more = found.length < limit ? await beforeHigherScoresStmt.all(keyParams(key, limit - found.length)) : [];
        return found.concat(more).reverse();
      },
      totalRanked: async () => (await totalStmt.get({ period }))?.n ?? 0,
      scoresBetween: (low, high) => scoresBetweenStmt.all({ period, low, high }),
      scoreGroups: () => scoresBetweenStmt.all({ period, low: 0, high: 2_147_483_647 }),
      countAbove: async (referrals) => (await aboveStmt.get({ period, referrals }))?.n ?? 0,
    };
  };
}

export type PeriodRanking = ReturnType<typeof createPeriodRanking>;

/** The UTC month of a time as YYYYMM, the key of period_scores. */
export const periodOf = (at: Date): number => at.getUTCFullYear() * 100 + at.getUTCMonth() + 1;
