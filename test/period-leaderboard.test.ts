import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import type supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { periodScoreCounts, periodScores, referrals, users } from '../src/db/schema.js';
import { periodOf } from '../src/modules/referral/period-ranking.repository.js';
import { createTestClock, freshDatabaseForSuite, makeTestApp, type TestApp } from './helpers/app.js';
import { insertUser, run, userByEmail } from './helpers/db.js';
import { applyReferralHistory, referralOpArb } from './helpers/referral-history.js';
import { bare } from './helpers/extra.js';
import { csrfFor, signup, uniqueEmail } from './helpers/forms.js';

const ADMIN = 'contest-boss@example.com';
const apps: TestApp[] = [];
afterAll(() => Promise.all(apps.map((a) => a.close())));

/** An app whose clock starts at `start`; credits happen at sign-up (the test default). */
function appAt(start: string, env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const made = makeTestApp({ ADMIN_EMAILS: ADMIN, ...env }, { clock: createTestClock(new Date(start)) });
  apps.push(made);
  return made;
}

/** A referrer signed up through the form; returns their code and id. */
async function referrer(t: TestApp, name: string): Promise<{ code: string; id: number; agent: supertest.Agent; email: string }> {
  const agent = t.request();
  const email = uniqueEmail(name.toLowerCase().replace(/\W/g, ''));
  expect((await signup(agent, { name, email })).status).toBe(303);
  const user = (await userByEmail(t.db, email))!;
  return { code: user.referralCode, id: user.id, agent, email };
}

/** `n` friends join with the code, now (credited at once under CREDIT_ON=signup). */
async function friends(t: TestApp, code: string, n: number, emailOf: (i: number) => string = () => uniqueEmail('friend')) {
  for (let i = 0; i < n; i++) expect((await signup(t.request(), { name: `Friend ${i}`, email: emailOf(i), referral_code: code })).status).toBe(303);
}

const board = async (t: TestApp, period?: string) => {
  const res = await bare(t).get(`/api/leaderboard${period === undefined ? '' : `?period=${period}`}`);
  expect(res.status).toBe(200);
  return (res.body as { totalRanked: number; entries: { rank: number; name: string; referrals: number }[] }).entries.map((e) => [e.rank, e.name, e.referrals]);
};

async function admin(t: TestApp): Promise<supertest.Agent> {
  const agent = t.request();
  expect((await signup(agent, { name: 'Contest Boss', email: ADMIN })).status).toBe(303);
  return agent;
}

describe('monthly leaderboards', () => {
  it('counts each credit in the UTC month it is dated, to the millisecond at the edges', async () => {
    const t = appAt('2026-01-31T23:59:59.999Z');
    const ada = await referrer(t, 'Ada Edge');
    const bob = await referrer(t, 'Bob Edge');
    await friends(t, ada.code, 1);
    t.clock.set(new Date('2026-02-01T00:00:00.000Z'));
    await friends(t, bob.code, 2);

    expect(await board(t, '2026-01')).toEqual([[1, 'Ada Edge', 1]]);
    expect(await board(t, '2026-02')).toEqual([[1, 'Bob Edge', 2]]);
    expect(await board(t, 'month')).toEqual([[1, 'Bob Edge', 2]]);
    expect(await board(t, 'all')).toEqual([
      [1, 'Bob Edge', 2],
      [2, 'Ada Edge', 1],
    ]);
    expect(await board(t)).toEqual(await board(t, 'all'));
  });

  it('ranks inside a month by count, then who reached it first, then id, with shared ranks for ties', async () => {
    const t = appAt('2026-03-01T10:00:00Z');
    const early = await referrer(t, 'Early Two');
    const late = await referrer(t, 'Late Two');
    const one = await referrer(t, 'Only One');
    await friends(t, early.code, 2);
    t.clock.advance(60_000);
    await friends(t, late.code, 2);
    await friends(t, one.code, 1);
    // February's credits do not count in March.
    t.clock.set(new Date('2026-04-02T00:00:00Z'));
    await friends(t, one.code, 5);
    expect(await board(t, '2026-03')).toEqual([
      [1, 'Early Two', 2],
      [1, 'Late Two', 2],
      [3, 'Only One', 1],
    ]);
    expect(await board(t, '2026-04')).toEqual([[1, 'Only One', 5]]);
  });

  it('answers 200 with no entries for a month without credits, and 400 for any other period value', async () => {
    const t = appAt('2026-05-10T00:00:00Z');
    const r = await referrer(t, 'Somebody');
    await friends(t, r.code, 1);
    for (const period of ['2026-06', '1999-01', '2031-12']) {
      const res = await bare(t).get(`/api/leaderboard?period=${period}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ totalRanked: 0, entries: [], page: 1 });
      const page = await bare(t).get(`/referral/leaderboard?period=${period}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('No referral was credited');
    }
    for (const bad of ['2026-13', '2026-00', '26-05', '2026-5', 'MONTH', 'all ', 'week', '2026-05-01', '']) {
      expect((await bare(t).get(`/api/leaderboard?period=${encodeURIComponent(bad)}`)).status).toBe(400);
      expect((await bare(t).get(`/referral/leaderboard?period=${encodeURIComponent(bad)}`)).status).toBe(400);
    }
    expect((await bare(t).get('/api/leaderboard?period=all&period=month')).status).toBe(400);
    expect((await bare(t).get('/api/leaderboard?period=2026-06&page=2')).status).toBe(404);
  });

  it('takes a revocation in a later month back from the month the credit was counted in', async () => {
    const t = appAt('2026-01-20T12:00:00Z');
    const boss = await admin(t);
    const ada = await referrer(t, 'Ada Revoked');
    const bob = await referrer(t, 'Bob Kept');
    await friends(t, ada.code, 2);
    await friends(t, bob.code, 1);
    t.clock.set(new Date('2026-02-03T09:00:00Z'));
    await friends(t, ada.code, 1);
    const [first] = await t.db.select().from(referrals).where(eq(referrals.referrerId, ada.id)).orderBy(referrals.id).limit(1);
    const _csrf = await csrfFor(boss, '/admin/referrals');
    expect((await boss.post(`/admin/referrals/${first!.id}/revoke`).type('form').send({ _csrf })).status).toBe(303);

    expect(await board(t, '2026-01')).toEqual([
      [1, 'Ada Revoked', 1],
      [1, 'Bob Kept', 1],
    ]);
    expect(await board(t, '2026-02')).toEqual([[1, 'Ada Revoked', 1]]);
    expect(await board(t, 'all')).toEqual([
      [1, 'Ada Revoked', 2],
      [2, 'Bob Kept', 1],
    ]);
  });

  it('counts an approved referral in the month of the approval', async () => {
    const t = appAt('2026-06-30T20:00:00Z', { FRAUD_SCREEN: 'on' });
    const boss = await admin(t);
    const ada = await referrer(t, 'Ada Approved');
    await friends(t, ada.code, 1, (i) => `held${i}.${Date.now()}@mailinator.com`);
    const [held] = await t.db
      .select()
      .from(referrals)
      .where(and(eq(referrals.referrerId, ada.id), eq(referrals.status, 'held')));
    expect(held).toBeDefined();
    t.clock.set(new Date('2026-07-01T08:00:00Z'));
    const _csrf = await csrfFor(boss, '/admin/review');
    expect((await boss.post(`/admin/referrals/${held!.id}/approve`).type('form').send({ _csrf })).status).toBe(303);
    expect(await board(t, '2026-06')).toEqual([]);
    expect(await board(t, '2026-07')).toEqual([[1, 'Ada Approved', 1]]);
  });

  it('leaves out a disabled referrer, ranks the others without them, and brings them back when enabled', async () => {
    const t = appAt('2026-08-05T00:00:00Z');
    const boss = await admin(t);
    const top = await referrer(t, 'Top Disabled');
    const next = await referrer(t, 'Next Up');
    await friends(t, top.code, 3);
    await friends(t, next.code, 1);
    let _csrf = await csrfFor(boss, `/admin/users/${top.id}`);
    expect((await boss.post(`/admin/users/${top.id}/disable`).type('form').send({ _csrf })).status).toBe(303);
    expect(await board(t, 'month')).toEqual([[1, 'Next Up', 1]]);
    _csrf = await csrfFor(boss, `/admin/users/${top.id}`);
    expect((await boss.post(`/admin/users/${top.id}/enable`).type('form').send({ _csrf })).status).toBe(303);
    expect(await board(t, 'month')).toEqual([
      [1, 'Top Disabled', 3],
      [2, 'Next Up', 1],
    ]);
  });

  it('shows a referrer in every month as they now choose to appear, after a display change and an admin’s rename', async () => {
    const t = appAt('2026-08-20T00:00:00Z');
    const ada = await referrer(t, 'Ada Lovelace');
    await friends(t, ada.code, 2);
    t.clock.set(new Date('2026-09-02T00:00:00Z'));
    await friends(t, ada.code, 1);
    expect(await board(t, '2026-08')).toEqual([[1, 'Ada Lovelace', 2]]);
    let _csrf = await csrfFor(ada.agent, '/account');
    expect((await ada.agent.post('/account/privacy').type('form').send({ display: 'initials', _csrf })).status).toBe(303);
    expect(await board(t, '2026-08')).toEqual([[1, 'Ada L.', 2]]);
    expect(await board(t, 'month')).toEqual([[1, 'Ada L.', 1]]);
    const boss = await admin(t);
    _csrf = await csrfFor(boss, `/admin/users/${ada.id}`);
    const edited = await boss.post(`/admin/users/${ada.id}/profile`).type('form').send({ name: 'Augusta King', email: ada.email, _csrf });
    expect(edited.status).toBe(303);
    expect(await board(t, '2026-08')).toEqual([[1, 'Augusta K.', 2]]);
    expect((await bare(t).get('/referral/leaderboard?period=month')).text).toContain('Augusta K.');
  });

  it('follows the month when it turns, even with pages cached, and keeps a past month as it was', async () => {
    const t = appAt('2026-09-30T23:00:00Z');
    const ada = await referrer(t, 'September Star');
    await friends(t, ada.code, 2);
    const september = await bare(t).get('/referral/leaderboard?period=month');
    expect(september.text).toContain('September Star');
    expect((await bare(t).get('/referral/leaderboard?period=2026-09')).text).toContain('September Star');
    t.clock.set(new Date('2026-10-01T00:00:01Z'));
    const october = await bare(t).get('/referral/leaderboard?period=month');
    expect(october.status).toBe(200);
    expect(october.text).not.toContain('September Star');
    expect(october.text).toContain('No referral was credited in October 2026 yet');
    const past = await bare(t).get('/referral/leaderboard?period=2026-09');
    expect(past.text).toContain('September Star');
    expect(past.text).toContain('its ranking is final');
  });

  it('pages a month 20 rows at a time by the links, every row once', async () => {
    const t = appAt('2026-11-10T00:00:00Z');
    const month = periodOf(t.clock.now());
    // Ranked rows written straight into the month's tables, as the triggers would.
    for (let i = 0; i < 45; i++) {
      const u = await insertUser(t.db, { name: `Racer ${String(i).padStart(2, '0')}` });
      await t.db.insert(periodScores).values({ period: month, userId: u.id, referrals: 1 + (i % 4), reachedAt: Date.UTC(2026, 10, 1, 0, i) });
    }
    const seen: string[] = [];
    let href: string | null = '/referral/leaderboard?period=month';
    while (href) {
      const res: supertest.Response = await bare(t).get(href);
      expect(res.status).toBe(200);
      seen.push(...[...res.text.matchAll(/<td>(Racer \d\d)/g)].map((m) => m[1]!));
      href = /<a href="([^"]+)" rel="next">/.exec(res.text)?.[1]?.replace(/&amp;/g, '&') ?? null;
      if (href) expect(href).toContain('period=2026-11');
    }
    expect(seen).toHaveLength(45);
    expect(new Set(seen).size).toBe(45);
  });

  it('answers the integration API with the period too', async () => {
    // Session cookies expire by the real clock and sessions by the test clock: a test clock
    // ahead of the real date would expire the admin's session at once.
    const t = appAt('2026-10-15T00:00:00Z');
    const ada = await referrer(t, 'Api Period');
    await friends(t, ada.code, 1);
    const boss = await admin(t);
    const _csrf = await csrfFor(boss, '/admin/api-keys');
    const made = await boss.post('/admin/api-keys').type('form').send({ name: 'contest', scope: 'read', _csrf });
    const key = /value="(rk_[A-Za-z0-9_-]{43})"/.exec(made.text)![1]!;
    const month = await bare(t).get('/api/v1/leaderboard?period=month').set('Authorization', `Bearer ${key}`);
    expect(month.body.data).toEqual([{ rank: 1, name: 'Api Period', referrals: 1 }]);
    const before = await bare(t).get('/api/v1/leaderboard?period=2026-09').set('Authorization', `Bearer ${key}`);
    expect(before.body).toMatchObject({ data: [], total_ranked: 0 });
    expect((await bare(t).get('/api/v1/leaderboard?period=2026-99').set('Authorization', `Bearer ${key}`)).status).toBe(400);

    // The organiser's export for prizes: real names and addresses, in rank order.
    const overview = await boss.get('/admin');
    expect([overview.status, overview.headers.location]).toEqual([200, undefined]);
    const csv = await boss.get('/admin/export/leaderboard.csv?period=2026-10');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.text.split('\r\n').slice(0, 2)).toEqual(['rank,name,email,referrals,user_id', `1,Api Period,${ada.email},1,${ada.id}`]);
    expect((await boss.get('/admin/export/leaderboard.csv?period=nope')).status).toBe(400);
    expect((await t.request().get('/admin/export/leaderboard.csv')).status).toBe(302);
  });
});

describe('period_scores under random histories', () => {
  const fresh = freshDatabaseForSuite();

  it('always holds every month’s counts, times, tie groups and each referrer’s name, display and status, as a brute force finds them', async () => {
    const db = fresh().db;
    // Days from 1 January: 70 days cross two month ends; late = a millisecond before midnight.
    const at = (day: number, late: boolean) => new Date(Date.UTC(2026, 0, 1 + day) + (late ? 86_399_999 : 43_200_000));
    await fc.assert(
      fc.asyncProperty(
        fc.array(referralOpArb({ days: 70, toggles: true, renames: true }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (ops, late) => {
          for (const table of ['referrals', 'period_scores', 'period_score_counts', 'referral_days', 'users']) await run(db, `delete from ${table}`);
          await applyReferralHistory(db, ops, (day) => at(day, late));

          // The brute force: every credited referral, grouped by month and referrer in TypeScript.
          const credited = await db
            .select({ referrerId: referrals.referrerId, at: referrals.creditedAt })
            .from(referrals)
            .where(eq(referrals.status, 'credited'));
          const expected = new Map<string, { n: number; reached: number }>();
          for (const c of credited) {
            const key = `${periodOf(c.at!)}:${c.referrerId}`;
            const e = expected.get(key) ?? { n: 0, reached: 0 };
            expected.set(key, { n: e.n + 1, reached: Math.max(e.reached, c.at!.getTime()) });
          }
          const kept = await db.select().from(periodScores);
          expect(
            Object.fromEntries(kept.filter((r) => r.referrals > 0).map((r) => [`${r.period}:${r.userId}`, { n: r.referrals, reached: Number(r.reachedAt) }])),
          ).toEqual(Object.fromEntries(expected));

          // Every month's row carries its referrer as users holds them now (migration 0023):
          // the leaderboard reads names and who is active from period_scores alone.
          const people = new Map((await db.select().from(users)).map((u) => [u.id, [u.name, u.leaderboardDisplay, u.status]]));
          for (const r of kept) expect([r.name, r.leaderboardDisplay, r.status]).toEqual(people.get(r.userId));

          const active = new Set((await db.select({ id: users.id }).from(users).where(eq(users.status, 'active'))).map((u) => u.id));
          const groups = new Map<string, number>();
          for (const [key, e] of expected) {
            const [period, referrerId] = key.split(':').map(Number);
            if (!active.has(referrerId!)) continue;
            groups.set(`${period}:${e.n}`, (groups.get(`${period}:${e.n}`) ?? 0) + 1);
          }
          const counts = await db.select().from(periodScoreCounts);
          // Exactly the groups that hold someone: an emptied group is removed (migration 0021).
          expect(Object.fromEntries(counts.map((c) => [`${c.period}:${c.score}`, c.users]))).toEqual(Object.fromEntries(groups));
        },
      ),
      { numRuns: 60 },
    );
  });
});
