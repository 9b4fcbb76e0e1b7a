import { and, count, eq, gt, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Db } from '../src/db/client.js';
import { scoreCounts, users } from '../src/db/schema.js';
import { locateRow, rankRows } from '../src/modules/referral/leaderboard.js';
import { createReferralRepository, type ReferralRepository } from '../src/modules/referral/referral.repository.js';
import { freshDatabaseForSuite } from './helpers/app.js';
import { insertUser, query, run } from './helpers/db.js';
import { applyReferralHistory, referralOpArb } from './helpers/referral-history.js';

type Op =
  | { kind: 'insert'; count: number; minute: number; disabled: boolean }
  | { kind: 'credit'; who: number; minute: number }
  | { kind: 'revoke'; who: number }
  | { kind: 'toggle'; who: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), count: fc.integer({ min: 0, max: 6 }), minute: fc.integer({ min: 0, max: 5 }), disabled: fc.boolean() }),
  fc.record({ kind: fc.constant('credit' as const), who: fc.nat(), minute: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('revoke' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('toggle' as const), who: fc.nat() }),
);

async function apply(db: Db, ops: Op[]): Promise<void> {
  const ids: number[] = [];
  for (const op of ops) {
    if (op.kind === 'insert') {
      const u = await insertUser(db, {
        referralsCount: op.count,
        lastReferralAt: op.count ? new Date(Date.UTC(2026, 0, 1, 0, op.minute)) : null,
        status: op.disabled ? 'disabled' : 'active',
      });
      ids.push(u.id);
      continue;
    }
    if (ids.length === 0) continue;
    const id = ids[op.who % ids.length]!;
    if (op.kind === 'credit') {
      await db
        .update(users)
        .set({ referralsCount: sql`${users.referralsCount} + 1`, lastReferralAt: new Date(Date.UTC(2026, 0, 1, 1, op.minute)) })
        .where(eq(users.id, id));
    } else if (op.kind === 'revoke') {
      await db
        .update(users)
        .set({ referralsCount: sql`${users.referralsCount} - 1` })
        .where(and(eq(users.id, id), gt(users.referralsCount, 0)));
    } else {
      await db
        .update(users)
        .set({ status: sql`case ${users.status} when 'active' then 'disabled' else 'active' end` })
        .where(eq(users.id, id));
    }
  }
}

/**
 * Back to the freshly migrated state between runs: no users (nor rows that point at
 * them), no score_counts rows, the leaderboard version at 0 as the migration left it.
 */
async function reset(db: Db): Promise<void> {
  for (const table of ['referrals', 'user_rewards', 'referral_clicks', 'user_signals', 'user_tokens', 'sessions', 'audit_log', 'users', 'score_counts']) {
    await run(db, `delete from ${table}`);
  }
  await run(db, "update app_state set value = 0 where key = 'leaderboard_version'");
}

/** `limit` rows from position `offset`, the way a typed page finds them: through score_counts. */
async function rowsAt(repo: ReferralRepository, offset: number, limit: number) {
  const at = locateRow(await repo.scoreGroups(), offset);
  return at ? repo.rankedFromGroup(at.score, at.skip, limit) : [];
}

/** The ranking computed the obvious way, to compare the fast paths against. */
async function bruteForce(db: Db) {
  const rows = (await db.select({ id: users.id, referralsCount: users.referralsCount, lastReferralAt: users.lastReferralAt, status: users.status }).from(users))
    .map((u) => ({ ...u, reachedAt: u.lastReferralAt?.getTime() ?? 0 }))
    .filter((r) => r.status === 'active' && r.referralsCount > 0)
    .sort((a, b) => b.referralsCount - a.referralsCount || a.reachedAt - b.reachedAt || a.id - b.id);
  return rows.map((r) => ({ ...r, rank: rows.filter((o) => o.referralsCount > r.referralsCount).length + 1 }));
}

describe('ranking structures under random histories', () => {
  // One database for the whole property, emptied by reset() before each run: one per run
  // would be 150 files, or 150 PostgreSQL databases.
  const fresh = freshDatabaseForSuite();

  it('score_counts, ranks, pages and key seeks all agree with a brute-force ranking', async () => {
    const db = fresh().db;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        await reset(db);
        await apply(db, ops);
        const repo = createReferralRepository(db);
        const expected = await bruteForce(db);

        // Exactly the groups that hold someone: an emptied group is removed (migration 0021).
        const counts = await db.select({ score: scoreCounts.score, users: scoreCounts.users }).from(scoreCounts).orderBy(scoreCounts.score);
        const grouped = await db
          .select({ score: users.referralsCount, users: count() })
          .from(users)
          .where(and(eq(users.status, 'active'), gt(users.referralsCount, 0)))
          .groupBy(users.referralsCount)
          .orderBy(users.referralsCount);
        expect(counts).toEqual(grouped);
        expect(await repo.totalRanked()).toBe(expected.length);

        for (const [i, r] of expected.entries()) {
          expect((await repo.countAbove(r.referralsCount)) + 1).toBe(r.rank);
          const key = { referrals: r.referralsCount, reachedAt: r.reachedAt, id: r.id };
          expect((await repo.rankedAfter(key, 3)).map((x) => x.id)).toEqual(expected.slice(i + 1, i + 4).map((x) => x.id));
          expect((await repo.rankedBefore(key, 3)).map((x) => x.id)).toEqual(expected.slice(Math.max(0, i - 3), i).map((x) => x.id));
        }
        for (let offset = 0; offset < expected.length; offset += 4) {
          const slice = await repo.rankedPage(offset, 4);
          const min = Math.min(...slice.map((x) => x.referrals));
          const max = Math.max(...slice.map((x) => x.referrals));
          expect(rankRows(slice, await repo.scoresBetween(min, max), await repo.countAbove(max))).toEqual(
            expected.slice(offset, offset + 4).map((x) => x.rank),
          );
        }
        const paged = (await Promise.all([0, 5, 10].map((offset) => repo.rankedPage(offset, 5)))).flatMap((page) => page.map((x) => x.id));
        expect(paged).toEqual(expected.slice(0, 15).map((x) => x.id));
        // Deep typed pages find their rows through score_counts. Every start position and
        // length: windows that start and end inside tie groups, on their edges, span
        // several groups or run past the end.
        for (const limit of [1, 3, 7]) {
          for (let offset = 0; offset <= expected.length + 1; offset++) {
            expect((await rowsAt(repo, offset, limit)).map((x) => x.id)).toEqual(expected.slice(offset, offset + limit).map((x) => x.id));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('referral_days under random histories', () => {
  const fresh = freshDatabaseForSuite();

  it('always holds exactly the credited referrals per referrer and UTC day', async () => {
    const db = fresh().db;
    // A time in the middle of a day, and one a millisecond before midnight: both ends of a day.
    const at = (day: number, late: boolean) => new Date(Date.UTC(2026, 0, 1 + day) + (late ? 86_399_999 : 43_200_000));
    await fc.assert(
      fc.asyncProperty(fc.array(referralOpArb({ days: 4 }), { minLength: 1, maxLength: 40 }), fc.boolean(), async (ops, late) => {
        for (const table of ['referrals', 'referral_days', 'users']) await run(db, `delete from ${table}`);
        await applyReferralHistory(db, ops, (day) => at(day, late));
        const kept = await query<{ referrer_id: number; day: number; n: number }>(
          db,
          'select referrer_id, day, credited as n from referral_days where credited <> 0 order by referrer_id, day',
        );
        const counted = await query<{ referrer_id: number; day: number; n: number }>(
          db,
          "select referrer_id, credited_at / 86400000 as day, count(*) as n from referrals where status = 'credited' group by referrer_id, credited_at / 86400000 order by referrer_id, day",
        );
        expect(kept.map((r) => [r.referrer_id, Number(r.day), Number(r.n)])).toEqual(counted.map((r) => [r.referrer_id, Number(r.day), Number(r.n)]));
      }),
      { numRuns: 60 },
    );
  });
});
