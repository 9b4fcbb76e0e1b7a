import { and, asc, desc, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { perKey, prepared } from '../../db/sql.js';
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
    referrals: sql.placeholder('referrals'),
    at: sql.placeholder('at'),
    id: sql.placeholder('id'),
    limit: sql.placeholder('limit'),
  };
  const order = [desc(periodScores.referrals), asc(periodScores.reachedAt), asc(periodScores.userId)] as const;
  const reverse = [asc(periodScores.referrals), desc(periodScores.reachedAt), desc(periodScores.userId)] as const;

  // One month's statements, with the month written in on SQLite (see perKey): page 1 and
  // its ranks would otherwise be planned again on every request.
  const statementsOf = perKey('period', 24, (period) => {
    // Literals, not parameters, so the planner can see the ranking index's predicate holds.
    const RANKED = sql`${periodScores.period} = ${period} and ${periodScores.status} = 'active' and ${periodScores.referrals} > 0`;
    const rows = () => db.select(columns).from(periodScores);
    // A month holds a few hundred score groups at most (emptied ones are deleted): the
    // totals and ranks read the month's range of the covering index and compare the score
    // there. The unary plus keeps the score out of the index seek, so SQLite does not plan
    // the statement again for every new score (see perKey).
    const MONTH = sql`${periodScoreCounts.period} = ${period}`;
    const score = sql`+${periodScoreCounts.score}`;
    return {
      page: prepared(
        rows()
          .where(RANKED)
          .orderBy(...order)
          .limit(p.limit)
          .offset(sql.placeholder('offset')),
      ),
      inGroup: prepared(
        rows()
          .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals}`))
          .orderBy(...order)
          .limit(p.limit)
          .offset(sql.placeholder('offset')),
      ),
      afterSameScore: prepared(
        rows()
          .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals} and (${periodScores.reachedAt}, ${periodScores.userId}) > (${p.at}, ${p.id})`))
          .orderBy(...order)
          .limit(p.limit),
      ),
      afterLowerScores: prepared(
        rows()
          .where(and(RANKED, sql`${periodScores.referrals} < ${p.referrals}`))
          .orderBy(...order)
          .limit(p.limit),
      ),
      beforeSameScore: prepared(
        rows()
          .where(and(RANKED, sql`${periodScores.referrals} = ${p.referrals} and (${periodScores.reachedAt}, ${periodScores.userId}) < (${p.at}, ${p.id})`))
          .orderBy(...reverse)
          .limit(p.limit),
      ),
      beforeHigherScores: prepared(
        rows()
          .where(and(RANKED, sql`${periodScores.referrals} > ${p.referrals}`))
          .orderBy(...reverse)
          .limit(p.limit),
      ),
      total: prepared(
        db
          .select({ n: sql<number>`coalesce(sum(${periodScoreCounts.users}), 0)`.mapWith(Number) })
          .from(periodScoreCounts)
          .where(MONTH),
      ),
      scoresBetween: prepared(
        db
          .select({ score: periodScoreCounts.score, users: periodScoreCounts.users })
          .from(periodScoreCounts)
          .where(and(MONTH, sql`${score} > ${sql.placeholder('low')} and ${score} <= ${sql.placeholder('high')}`))
          .orderBy(desc(periodScoreCounts.score)),
      ),
      above: prepared(
        db
          .select({ n: sql<number>`coalesce(sum(${periodScoreCounts.users}), 0)`.mapWith(Number) })
          .from(periodScoreCounts)
          .where(and(MONTH, sql`${score} > ${p.referrals}`)),
      ),
    };
  });

  /** The ranking of one month (`period` = YYYYMM), with the all-time ranking's interface. */
  return function forPeriod(period: number): RankingSource {
    const s = statementsOf(period);
    const keyParams = (key: RankKey, limit: number) => ({ period, referrals: key.referrals, at: key.reachedAt, id: key.id, limit });
    return {
      rankedPage: (offset, limit): Promise<RankedRow[]> => s.page.all({ period, offset, limit }),
      async rankedFromGroup(score, skip, limit) {
        const found = await s.inGroup.all({ period, referrals: score, offset: skip, limit });
        return found.length < limit ? found.concat(await s.afterLowerScores.all({ period, referrals: score, limit: limit - found.length })) : found;
      },
      async rankedAfter(key, limit) {
        const found = await s.afterSameScore.all(keyParams(key, limit));
        return found.length < limit ? found.concat(await s.afterLowerScores.all(keyParams(key, limit - found.length))) : found;
      },
      async rankedBefore(key, limit) {
        const found = await s.beforeSameScore.all(keyParams(key, limit));
        const more = found.length < limit ? await s.beforeHigherScores.all(keyParams(key, limit - found.length)) : [];
        return found.concat(more).reverse();
      },
      totalRanked: async () => (await s.total.get({ period }))?.n ?? 0,
      scoresBetween: (low, high) => s.scoresBetween.all({ period, low, high }),
      scoreGroups: () => s.scoresBetween.all({ period, low: 0, high: 2_147_483_647 }),
      countAbove: async (referrals) => (await s.above.get({ period, referrals }))?.n ?? 0,
    };
  };
}

export type PeriodRanking = ReturnType<typeof createPeriodRanking>;

/** The UTC month of a time as YYYYMM, the key of period_scores. */
export const periodOf = (at: Date): number => at.getUTCFullYear() * 100 + at.getUTCMonth() + 1;
