import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rankRows } from '../src/modules/referral/leaderboard.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { insertUser, run, userByEmail } from './helpers/db.js';
import { csrfFor, login, signup, uniqueEmail } from './helpers/forms.js';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));

describe('rankRows (competition ranking)', () => {
  // score_counts for the counts 5, 3, 3, 1, highest first.
  const scores = [
    { score: 5, users: 1 },
    { score: 3, users: 2 },
    { score: 1, users: 1 },
  ];

  it('gives ties the same rank and skips the following ranks: 1, 2, 2, 4', () => {
    expect(
      rankRows(
        [5, 3, 3, 1].map((referrals) => ({ referrals })),
        scores,
      ),
    ).toEqual([1, 2, 2, 4]);
  });

  it('ranks a window from anywhere in the ranking, given the users above it', () => {
    // The window holds the counts 3 and 1; one user (with 5) is above it.
    expect(
      rankRows(
        [3, 1].map((referrals) => ({ referrals })),
        scores.slice(1),
        1,
      ),
    ).toEqual([2, 4]);
  });
});

describe('leaderboard pages', () => {
  let t: TestApp;
  beforeEach(() => {
    t = makeTestApp();
  });
  afterEach(() => t.close());

  it('shows an empty state with 200 on page 1 when no one is ranked, and 404 past it', async () => {
    await insertUser(t.db); // no referrals: not ranked
    const page = await t.request().get('/referral/leaderboard');
    expect(page.status).toBe(200);
    expect(page.text).toContain('No one is on the leaderboard yet');
    expect(page.text).toContain('Page 1 of 1');
    const api = await t.request().get('/api/leaderboard');
    expect(api.body).toMatchObject({ page: 1, pageSize: 20, totalPages: 1, totalRanked: 0, entries: [] });
    expect((await t.request().get('/referral/leaderboard?page=2')).status).toBe(404);
  });

  it('orders by referrals, then who reached the count first, then id, and ranks ties together', async () => {
    await insertUser(t.db, { name: 'Late Three', referralsCount: 3, lastReferralAt: at(30) });
    await insertUser(t.db, { name: 'Five', referralsCount: 5, lastReferralAt: at(50) });
    await insertUser(t.db, { name: 'Early Three', referralsCount: 3, lastReferralAt: at(10) });
    await insertUser(t.db, { name: 'One', referralsCount: 1, lastReferralAt: at(5) });
    await insertUser(t.db, { name: 'Disabled Nine', referralsCount: 9, lastReferralAt: at(1), status: 'disabled' });
    await insertUser(t.db, { name: 'Zero' });
    const res = await t.request().get('/api/leaderboard');
    expect(res.status).toBe(200);
    expect(res.body.entries).toEqual([
      { rank: 1, name: 'Five', referrals: 5 },
      { rank: 2, name: 'Early Three', referrals: 3 },
      { rank: 2, name: 'Late Three', referrals: 3 },
      { rank: 4, name: 'One', referrals: 1 },
    ]);
    expect(res.body.totalRanked).toBe(4);
    expect(new Date(res.body.generatedAt).toISOString()).toBe(res.body.generatedAt);
  });

  it('breaks an exact tie in count and time by id', async () => {
    await insertUser(t.db, { name: 'First id', referralsCount: 2, lastReferralAt: at(7) });
    await insertUser(t.db, { name: 'Second id', referralsCount: 2, lastReferralAt: at(7) });
    const res = await t.request().get('/api/leaderboard');
    expect(res.body.entries.map((e: { name: string }) => e.name)).toEqual(['First id', 'Second id']);
  });

  it('pages 20 rows at a time with prev/next links and "page N of M"', async () => {
    for (let i = 0; i < 45; i++) await insertUser(t.db, { name: `Ranked ${i}`, referralsCount: 100 - i, lastReferralAt: at(i) });
    const p1 = await t.request().get('/api/leaderboard?page=1');
    expect(p1.body.entries).toHaveLength(20);
    expect(p1.body.totalPages).toBe(3);
    const p3 = await t.request().get('/api/leaderboard?page=3');
    expect(p3.body.entries).toHaveLength(5);
    expect(p3.body.entries[0]).toEqual({ rank: 41, name: 'Ranked 40', referrals: 60 });
    const html = await t.request().get('/referral/leaderboard?page=2');
    expect(html.text).toContain('Page 2 of 3');
    expect(html.text).toMatch(/href="\/referral\/leaderboard\?page=1&amp;cursor=[\w-]+" rel="prev"/);
    expect(html.text).toMatch(/href="\/referral\/leaderboard\?page=3&amp;cursor=[\w-]+" rel="next"/);
    expect((await t.request().get('/referral/leaderboard?page=4')).status).toBe(404);
    expect((await t.request().get('/api/leaderboard?page=4')).status).toBe(404);
  });

  it('keeps a tie rank across a page boundary', async () => {
    for (let i = 0; i < 19; i++) await insertUser(t.db, { referralsCount: 50 - i, lastReferralAt: at(i) });
    for (let i = 0; i < 3; i++) await insertUser(t.db, { name: `Tied ${i}`, referralsCount: 7, lastReferralAt: at(30 + i) });
    const p2 = await t.request().get('/api/leaderboard?page=2');
    expect(p2.body.entries).toEqual([
      { rank: 20, name: 'Tied 1', referrals: 7 },
      { rank: 20, name: 'Tied 2', referrals: 7 },
    ]);
  });

  it.each(['0', '-1', 'abc', '1.5', '1e3', ' 1', '01', '99999999999', ''])('answers 400 for page=%j', async (page) => {
    const res = await t.request().get(`/referral/leaderboard?page=${encodeURIComponent(page)}`);
    expect(res.status).toBe(400);
    const api = await t.request().get(`/api/leaderboard?page=${encodeURIComponent(page)}`);
    expect(api.status).toBe(400);
    expect(api.body.error).toMatch(/positive whole number/);
  });

  it('answers 400 when page is given twice', async () => {
    expect((await t.request().get('/api/leaderboard?page=1&page=2')).status).toBe(400);
  });

  it('publishes names, ranks and counts only: no emails, ids or codes', async () => {
    const u = await insertUser(t.db, { name: 'Private Person', email: 'private.person@secret.example', referralsCount: 4 });
    const html = (await t.request().get('/referral/leaderboard')).text + (await t.request().get('/')).text;
    const api = await t.request().get('/api/leaderboard');
    for (const body of [html, JSON.stringify(api.body)]) {
      expect(body).toContain('Private Person');
      expect(body).not.toContain('secret.example');
      expect(body).not.toContain(u.referralCode);
    }
    expect(Object.keys(api.body.entries[0]).sort()).toEqual(['name', 'rank', 'referrals']);
  });

  it('escapes hostile names', async () => {
    await insertUser(t.db, { name: '<script>alert(1)</script>', referralsCount: 2 });
    const html = await t.request().get('/referral/leaderboard');
    expect(html.text).not.toContain('<script>alert(1)</script>');
    expect(html.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('shows the top 5 on the landing page', async () => {
    for (let i = 0; i < 7; i++) await insertUser(t.db, { name: `Top ${i}`, referralsCount: 10 - i, lastReferralAt: at(i) });
    const home = await t.request().get('/');
    expect(home.text).toContain('Top 4');
    expect(home.text).not.toContain('Top 5');
  });

  it('highlights the logged-in user and links to the page that holds them', async () => {
    for (let i = 0; i < 25; i++) await insertUser(t.db, { referralsCount: 100 - i, lastReferralAt: at(i) });
    const me = await insertUser(t.db, { name: 'Me Myself', email: uniqueEmail('me'), referralsCount: 1, lastReferralAt: at(99) });
    const agent = t.request();
    expect((await login(agent, me.email)).status).toBe(303);
    const p1 = await agent.get('/referral/leaderboard');
    expect(p1.text).toContain('href="/referral/leaderboard?around=me#you"');
    expect(p1.text).toContain('You are <strong>#26</strong>');
    expect(p1.text).not.toContain('class="is-me"');
    const p2 = await agent.get('/referral/leaderboard?page=2');
    expect(p2.text).toMatch(/class="is-me" id="you"[^>]*>\s*<td>26<\/td>\s*<td>Me Myself/);
    // The anonymous view of the same page carries no highlight: nothing personal was cached.
    const anon = await t.request().get('/referral/leaderboard?page=2');
    expect(anon.text).not.toContain('is-me');
    expect(anon.text).toContain('Me Myself');
  });

  it('shows the ten rows above and below the user for ?around=me', async () => {
    for (let i = 0; i < 40; i++) await insertUser(t.db, { name: `Row ${i}`, referralsCount: 100 - i, lastReferralAt: at(i) });
    const me = await insertUser(t.db, { name: 'Middle Me', email: uniqueEmail('around'), referralsCount: 80, lastReferralAt: at(99) });
    const agent = t.request();
    await login(agent, me.email);
    const res = await agent.get('/referral/leaderboard?around=me');
    expect(res.status).toBe(200);
    const names = [...res.text.matchAll(/<td>(Row \d+|Middle Me)/g)].map((m) => m[1]);
    // Row 20 also has 80 referrals but reached them first: Middle Me is ranked after it.
    expect(names).toEqual([...Array.from({ length: 10 }, (_, i) => `Row ${i + 11}`), 'Middle Me', ...Array.from({ length: 10 }, (_, i) => `Row ${i + 21}`)]);
    expect(res.text).toMatch(/class="is-me" id="you"[^>]*>\s*<td>21<\/td>\s*<td>Middle Me/);
    expect(res.text).toContain('You are <strong>#21</strong>');
    expect((await t.request().get('/referral/leaderboard?around=me')).status).toBe(302);
  });

  it('follows next/prev cursors to the same rows as page numbers, and rejects forged cursors', async () => {
    for (let i = 0; i < 50; i++) await insertUser(t.db, { name: `C${i}`, referralsCount: 1 + (i % 3), lastReferralAt: at(i) });
    const rowsOf = (html: string) => [...html.matchAll(/<td>(C\d+)<\/td>/g)].map((m) => m[1]!);
    let html = (await t.request().get('/referral/leaderboard')).text;
    const viaCursor: string[][] = [rowsOf(html)];
    for (let page = 2; page <= 3; page++) {
      const next = /href="([^"]+)" rel="next"/.exec(html)![1]!.replace(/&amp;/g, '&');
      html = (await t.request().get(next)).text;
      viaCursor.push(rowsOf(html));
    }
    const prev = /href="([^"]+)" rel="prev"/.exec(html)![1]!.replace(/&amp;/g, '&');
    expect(rowsOf((await t.request().get(prev)).text)).toEqual(viaCursor[1]);
    await run(t.db, "update app_state set value = value + 1 where key = 'leaderboard_version'");
    for (let page = 1; page <= 3; page++) {
      expect(rowsOf((await t.request().get(`/referral/leaderboard?page=${page}`)).text)).toEqual(viaCursor[page - 1]);
    }
    expect(new Set(viaCursor.flat()).size).toBe(50);
    const forged = await t.request().get('/referral/leaderboard?page=2&cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(rowsOf(forged.text)).toEqual(viaCursor[1]);
    expect((await t.request().get('/referral/leaderboard?page=2&cursor=%3Cscript%3E')).status).toBe(400);
  });
});

describe('leaderboard cache', () => {
  const t = makeTestApp();
  afterAll(() => t.close());

  it('serves a cached page until a ranking change, then the new ranking at once', async () => {
    await insertUser(t.db, { name: 'Cached Leader', referralsCount: 2, lastReferralAt: at(1) });
    expect((await t.request().get('/api/leaderboard')).body.totalRanked).toBe(1);

    // A raw insert bypasses every code path that changes rankings: the cache keeps serving.
    await insertUser(t.db, { name: 'Sneaked In', referralsCount: 9, lastReferralAt: at(2) });
    const cached = await t.request().get('/api/leaderboard');
    expect(cached.body.totalRanked).toBe(1);

    // A real credit through sign-up invalidates it.
    const referrer = await insertUser(t.db, { name: 'Fresh Referrer' });
    expect((await signup(t.request(), { referral_code: referrer.referralCode })).status).toBe(303);
    const fresh = await t.request().get('/api/leaderboard');
    expect(fresh.body.entries.map((e: { name: string }) => e.name)).toEqual(['Sneaked In', 'Cached Leader', 'Fresh Referrer']);
  });

  it('drops a ranked user who is disabled and shows a rename at once', async () => {
    const u = await insertUser(t.db, { name: 'Soon Renamed', referralsCount: 20, lastReferralAt: at(3) });
    const v = await insertUser(t.db, { name: 'Soon Disabled', referralsCount: 19, lastReferralAt: at(3) });
    await signup(t.request(), { referral_code: (await insertUser(t.db)).referralCode }); // bump once so both show
    expect((await t.request().get('/api/leaderboard')).body.entries[0].name).toBe('Soon Renamed');
    await t.database.transaction((tx) => run(tx, "update users set name = 'Renamed' where id = ?", u.id));
    await t.database.transaction((tx) => run(tx, "update users set status = 'disabled' where id = ?", v.id));
    const names = (await t.request().get('/api/leaderboard')).body.entries.map((e: { name: string }) => e.name);
    expect(names[0]).toBe('Renamed');
    expect(names).not.toContain('Soon Disabled');
  });

  it('never serves one person’s page to another: logged-in pages are rendered per request', async () => {
    await insertUser(t.db, { name: 'Someone Ranked', referralsCount: 3 });
    await signup(t.request(), { referral_code: (await insertUser(t.db)).referralCode });
    const anon1 = await t.request().get('/referral/leaderboard');
    const anon2 = await t.request().get('/referral/leaderboard');
    expect(anon1.text).toBe(anon2.text);
    expect(anon1.text).not.toContain('_csrf');
    expect(anon1.headers['set-cookie']).toBeUndefined();
    const a = t.request();
    const b = t.request();
    await signup(a, { name: 'Viewer A' });
    await signup(b, { name: 'Viewer B' });
    const pageA = (await a.get('/referral/leaderboard')).text;
    const pageB = (await b.get('/referral/leaderboard')).text;
    expect(pageA).toContain('Log out');
    expect(/name="_csrf" value="([^"]+)"/.exec(pageA)![1]).not.toBe(/name="_csrf" value="([^"]+)"/.exec(pageB)![1]);
    expect((await t.request().get('/referral/leaderboard')).text).toBe(anon1.text);
  });

  it('keeps each user’s ?around=me window until the ranking changes, then the new one at once', async () => {
    const meEmail = uniqueEmail('window');
    await signup(t.request(), { email: meEmail, name: 'Window Me' });
    const me = (await userByEmail(t.db, meEmail))!;
    const ahead = await insertUser(t.db, { name: 'Window Ahead', referralsCount: 500, lastReferralAt: at(4) });
    const agent = t.request();
    await login(agent, meEmail);
    await signup(t.request(), { referral_code: me.referralCode, name: 'Window Friend' });
    const rankIn = (html: string) => Number(/You are <strong>#(\d+)<\/strong>/.exec(html)![1]);
    const first = (await agent.get('/referral/leaderboard?around=me')).text;
    expect(first).toContain('Window Ahead');
    expect(first).toMatch(/class="is-me" id="you"[^>]*>\s*<td>\d+<\/td>\s*<td>Window Me/);

    // A raw insert bypasses the ranking version: the window is served as it was.
    await insertUser(t.db, { name: 'Window Sneak', referralsCount: 400, lastReferralAt: at(5) });
    const cached = (await agent.get('/referral/leaderboard?around=me')).text;
    const table = (html: string) => /<tbody>[\s\S]*<\/tbody>/.exec(html)![0];
    expect(table(cached)).toBe(table(first));
    expect(cached).not.toContain('Window Sneak');

    // Another user gets their own window, never this one.
    const other = t.request();
    await login(other, ahead.email);
    expect((await other.get('/referral/leaderboard?around=me')).text).toMatch(/class="is-me" id="you"[^>]*>\s*<td>\d+<\/td>\s*<td>Window Ahead/);

    // A real credit bumps the version: the next view is computed afresh.
    await signup(t.request(), { referral_code: me.referralCode, name: 'Window Friend Two' });
    const fresh = (await agent.get('/referral/leaderboard?around=me')).text;
    expect(fresh).toContain('Window Sneak');
    expect(rankIn(fresh)).toBeLessThan(rankIn(first) + 1);
    expect(fresh).toMatch(/class="is-me" id="you"[^>]*>\s*<td>\d+<\/td>\s*<td>Window Me/);
    expect(fresh).toMatch(/Window Me <small>\(you\)<\/small><\/td>\s*<td class="num">2</);
  });

  it('updates the referrer’s rank on their dashboard after a referral', async () => {
    const agent = t.request();
    const email = uniqueEmail('dash');
    await signup(agent, { email, name: 'Dash Owner' });
    const code = (await userByEmail(t.db, email))!.referralCode;
    expect((await agent.get('/dashboard')).text).toContain('not ranked yet');
    await signup(t.request(), { referral_code: code, name: 'Dash Friend' });
    const dash = await agent.get('/dashboard');
    expect(dash.text).toMatch(/data-stat="referrals">1</);
    expect(dash.text).toMatch(/data-stat="rank">#\d+/);
    expect(dash.text).toContain('href="/referral/leaderboard?around=me"');
    expect(dash.text).toContain('Dash Friend');
    const token = await csrfFor(agent, '/dashboard');
    expect(token.length).toBeGreaterThan(20);
  });
});
