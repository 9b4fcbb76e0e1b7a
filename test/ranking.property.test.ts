import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Db } from '../src/db/client.js';
import { openSqlite } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrate.js';
import { locateRow, rankRows } from '../src/modules/referral/leaderboard.js';
import { createReferralRepository, type ReferralRepository } from '../src/modules/referral/referral.repository.js';
import { insertUser } from './helpers/factories.js';

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

interface Row {
  id: number;
  name: string;
  referrals_count: number;
  last_referral_at: number | null;
  status: string;
}

function apply(db: Db, ops: Op[]): void {
  const ids: number[] = [];
  for (const op of ops) {
    if (op.kind === 'insert') {
      const u = insertUser(db, {
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
      db.$client.prepare('update users set referrals_count = referrals_count + 1, last_referral_at = ? where id = ?').run(Date.UTC(2026, 0, 1, 1, op.minute), id);
    } else if (op.kind === 'revoke') {
      db.$client.prepare('update users set referrals_count = referrals_count - 1 where id = ? and referrals_count > 0').run(id);
    } else {
      db.$client.prepare("update users set status = case status when 'active' then 'disabled' else 'active' end where id = ?").run(id);
    }
  }
}

/** `limit` rows from position `offset`, the way a typed page finds them: through score_counts. */
async function rowsAt(repo: ReferralRepository, offset: number, limit: number) {
  const at = locateRow(await repo.scoreGroups(), offset);
  return at ? repo.rankedFromGroup(at.score, at.skip, limit) : [];
}

/** The ranking computed the obvious way, to compare the fast paths against. */
function bruteForce(db: Db) {
  const rows = (db.$client.prepare('select id, name, referrals_count, last_referral_at, status from users').all() as Row[])
    .filter((r) => r.status === 'active' && r.referrals_count > 0)
    .sort((a, b) => b.referrals_count - a.referrals_count || (a.last_referral_at ?? 0) - (b.last_referral_at ?? 0) || a.id - b.id);
  return rows.map((r) => ({ ...r, rank: rows.filter((o) => o.referrals_count > r.referrals_count).length + 1 }));
}

describe('ranking structures under random histories', () => {
  it('score_counts, ranks, pages and key seeks all agree with a brute-force ranking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const database = openSqlite(':memory:');
        const db = database.db;
        try {
          runMigrations(database);
          apply(db, ops);
          const repo = createReferralRepository(db);
          const expected = bruteForce(db);

          const counts = db.$client.prepare('select score, users from score_counts where users <> 0 order by score').all();
          const grouped = db.$client
            .prepare("select referrals_count as score, count(*) as users from users where status = 'active' and referrals_count > 0 group by referrals_count order by score")
            .all();
          expect(counts).toEqual(grouped);
          expect(await repo.totalRanked()).toBe(expected.length);

          for (const [i, r] of expected.entries()) {
            expect((await repo.countAbove(r.referrals_count)) + 1).toBe(r.rank);
            const key = { referrals: r.referrals_count, reachedAt: r.last_referral_at ?? 0, id: r.id };
            expect((await repo.rankedAfter(key, 3)).map((x) => x.id)).toEqual(expected.slice(i + 1, i + 4).map((x) => x.id));
            expect((await repo.rankedBefore(key, 3)).map((x) => x.id)).toEqual(expected.slice(Math.max(0, i - 3), i).map((x) => x.id));
          }
          for (let offset = 0; offset < expected.length; offset += 4) {
            const slice = await repo.rankedPage(offset, 4);
            const min = Math.min(...slice.map((x) => x.referrals));
            const max = Math.max(...slice.map((x) => x.referrals));
            expect(rankRows(slice, await repo.scoresBetween(min, max), await repo.countAbove(max))).toEqual(expected.slice(offset, offset + 4).map((x) => x.rank));
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
        } finally {
          await database.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
