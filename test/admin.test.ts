import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rewardTiers, users as usersTable, type NewUser } from '../src/db/schema.js';
import { csvCell } from '../src/modules/admin/csv.js';
import { projectRoot } from '../src/paths.js';
import { freshDatabase, makeTestApp, tempDir, type TestApp } from './helpers/app.js';
import { countOf, insertUser, one, openDatabaseOf, query } from './helpers/db.js';
import { csrfFor, login, signup, uniqueEmail } from './helpers/forms.js';

const ADMIN = 'boss@example.com';
let t: TestApp;
let admin: ReturnType<TestApp['request']>;
let adminToken: string;
let user: ReturnType<TestApp['request']>;
let userToken: string;

beforeAll(async () => {
  t = makeTestApp({ ADMIN_EMAILS: `${ADMIN}, other-boss@example.com` });
  admin = t.request();
  expect((await signup(admin, { email: ADMIN, name: 'The Boss' })).status).toBe(303);
  adminToken = await csrfFor(admin, '/dashboard');
  user = t.request();
  await signup(user, { name: 'Plain User' });
  userToken = await csrfFor(user, '/dashboard');
});
afterAll(() => t.close());

/** The first row of a raw query, which the test expects to exist. */
async function row<T>(sqlText: string, ...params: unknown[]): Promise<T> {
  const found = await one<T>(t.db, sqlText, ...params);
  if (!found) throw new Error(`no row for: ${sqlText}`);
  return found;
}

async function referrerWithFriends(n: number, name = 'Referrer') {
  const agent = t.request();
  const email = uniqueEmail('referrer');
  await signup(agent, { email, name });
  const ref = await row<{ id: number; referral_code: string }>('select id, referral_code from users where email_normalized = ?', email);
  for (let i = 0; i < n; i++) await signup(t.request(), { name: `${name} friend ${i}`, referral_code: ref.referral_code });
  return { agent, email, id: ref.id, code: ref.referral_code };
}

const GET_ROUTES = [
  '/admin',
  '/admin/users',
  '/admin/users/1',
  '/admin/referrals',
  '/admin/rewards',
  '/admin/audit',
  '/admin/export/users.csv',
  '/admin/export/referrals.csv',
];
const POST_ROUTES = [
  '/admin/users/2/disable',
  '/admin/users/2/enable',
  '/admin/referrals/1/revoke',
  '/admin/user-rewards/1/fulfill',
  '/admin/rewards',
  '/admin/rewards/1',
];

describe('access control', () => {
  it.each(GET_ROUTES)('GET %s sends anonymous visitors to the login form', async (route) => {
    const res = await t.request().get(route);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/auth/login?next=${encodeURIComponent(route)}`);
  });

  it.each(GET_ROUTES)('GET %s answers 403 to a logged-in non-admin', async (route) => {
    expect((await user.get(route)).status).toBe(403);
  });

  it.each(POST_ROUTES)('POST %s answers 403 to a non-admin with a valid CSRF token and changes nothing', async (route) => {
    const before = await countOf(t.db, 'select count(*) from audit_log');
    const res = await user.post(route).type('form').send({ _csrf: userToken, name: 'x', threshold: '7' });
    expect(res.status).toBe(403);
    expect(await countOf(t.db, 'select count(*) from audit_log')).toBe(before);
  });

  it.each(POST_ROUTES)('POST %s answers 403 to an admin without a CSRF token', async (route) => {
    expect((await admin.post(route).type('form').send({ name: 'x', threshold: '7' })).status).toBe(403);
  });

  it.each(GET_ROUTES.filter((r) => !r.endsWith('.csv')))('GET %s renders for an admin', async (route) => {
    const res = await admin.get(route);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('promotes an ADMIN_EMAILS account at login, not only at sign-up', async () => {
    await insertUser(t.db, { email: 'other-boss@example.com' });
    const agent = t.request();
    expect((await login(agent, 'other-boss@example.com')).status).toBe(303);
    expect((await agent.get('/admin')).status).toBe(200);
  });

  it('answers 404 for malformed or unknown ids', async () => {
    for (const id of ['abc', '0', '-1', '1.5', '99999999']) expect((await admin.get(`/admin/users/${id}`)).status).toBe(404);
  });
});

describe('overview', () => {
  it('shows totals, a 30-day SVG chart with a table, top referrers and mail counts', async () => {
    const ref = await referrerWithFriends(2, 'Overview Olga');
    await t.request().get(`/r/${ref.code}`);
    const res = await admin.get('/admin');
    const users = await countOf(t.db, 'select count(*) from users');
    const credited = await countOf(t.db, "select count(*) from referrals where status = 'credited'");
    expect(res.text).toMatch(new RegExp(`data-stat="users">${users}<`));
    expect(res.text).toMatch(new RegExp(`data-stat="credited">${credited}<`));
    expect(res.text).toMatch(/<svg[^>]+role="img"/);
    expect(res.text).toContain('Show the numbers as a table');
    expect((res.text.match(/<th scope="row">\d{4}-\d{2}-\d{2}<\/th>/g) ?? []).length).toBe(30);
    expect(res.text).toContain('Overview Olga');
    expect(res.text).toMatch(/data-stat="mail-failed">\d+ failed/);
  });
});

describe('users', () => {
  it('pages the list with "page N of M" and working previous/next links', async () => {
    for (let i = 0; i < 30; i++) await insertUser(t.db, { name: `Pager Person ${i}`, email: `pager${i}@pages.test` });
    const first = await admin.get('/admin/users?q=pages.test');
    expect(first.text).toContain('Page 1 of 2 (30 in all)');
    expect(first.text).toContain('href="/admin/users?page=2&amp;q=pages.test" rel="next"');
    const second = await admin.get('/admin/users?page=2&q=pages.test');
    expect(second.status).toBe(200);
    expect(second.text).toContain('Page 2 of 2 (30 in all)');
    expect(second.text).toContain('rel="prev"');
  });

  it('searches by name and email, treating % and _ literally', async () => {
    await insertUser(t.db, { name: 'Zebedee Searchable', email: 'zeb@search.test' });
    await insertUser(t.db, { name: 'Per%cent_Name', email: 'pct@search.test' });
    const byName = await admin.get('/admin/users?q=zebedee');
    expect(byName.text).toContain('Zebedee Searchable');
    expect(byName.text).not.toContain('Per%cent_Name');
    const byEmail = await admin.get('/admin/users?q=pct@SEARCH');
    expect(byEmail.text).toContain('Per%cent_Name');
    const literal = await admin.get(`/admin/users?q=${encodeURIComponent('%')}`);
    expect(literal.text).toContain('Per%cent_Name');
    expect(literal.text).not.toContain('Zebedee');
  });

  it('answers 400 for a bad page and 404 past the last page', async () => {
    expect((await admin.get('/admin/users?page=abc')).status).toBe(400);
    expect((await admin.get('/admin/users?page=999')).status).toBe(404);
    expect((await admin.get(`/admin/users?q=${'x'.repeat(300)}`)).status).toBe(400);
  });

  it('shows a user with their referrer, referred people, rewards and clicks', async () => {
    const ref = await referrerWithFriends(1, 'Detail Dora');
    const res = await admin.get(`/admin/users/${ref.id}`);
    expect(res.text).toContain('Detail Dora friend 0');
    expect(res.text).toContain('action="/admin/referrals/');
    expect(res.text).toContain('First friend');
    expect(res.text).toContain('Mark fulfilled');
    expect(res.text).toMatch(/Link clicks<\/dt><dd>0 from 0 networks/);
  });

  it('disables a user: no login, every session gone, off the leaderboard at once, audited; enable restores', async () => {
    const ref = await referrerWithFriends(3, 'Disabled Dan');
    expect((await t.request().get('/api/leaderboard')).body.entries.map((e: { name: string }) => e.name)).toContain('Disabled Dan');
    const res = await admin.post(`/admin/users/${ref.id}/disable`).type('form').send({ _csrf: adminToken });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/users/${ref.id}`);
    expect(await countOf(t.db, 'select count(*) from sessions where user_id = ?', ref.id)).toBe(0);
    expect((await ref.agent.get('/dashboard')).status).toBe(302);
    expect((await login(t.request(), ref.email)).status).toBe(401);
    expect((await t.request().get('/api/leaderboard')).body.entries.map((e: { name: string }) => e.name)).not.toContain('Disabled Dan');
    const audit = await row<{ action: string; actor_id: number }>(
      "select * from audit_log where target_type = 'user' and target_id = ? order by id desc",
      ref.id,
    );
    expect(audit.action).toBe('user.disable');

    expect((await admin.post(`/admin/users/${ref.id}/enable`).type('form').send({ _csrf: adminToken })).status).toBe(303);
    expect((await login(t.request(), ref.email)).status).toBe(303);
    expect((await t.request().get('/api/leaderboard')).body.entries.map((e: { name: string }) => e.name)).toContain('Disabled Dan');
  });

  it('refuses to let an admin disable their own account', async () => {
    const me = await row<{ id: number }>('select id from users where email_normalized = ?', ADMIN);
    const res = await admin.post(`/admin/users/${me.id}/disable`).type('form').send({ _csrf: adminToken });
    expect(res.status).toBe(400);
    expect((await row<{ status: string }>('select status from users where id = ?', me.id)).status).toBe('active');
  });
});

describe('referrals', () => {
  it('lists and filters referrals', async () => {
    await referrerWithFriends(1, 'Filter Fay');
    const all = await admin.get('/admin/referrals?q=Filter%20Fay');
    expect(all.text).toContain('Filter Fay friend 0');
    const revoked = await admin.get('/admin/referrals?q=Filter%20Fay&status=revoked');
    expect(revoked.text).toContain('No referrals match');
    expect((await admin.get('/admin/referrals?status=bogus')).status).toBe(400);
  });

  it('revokes in one transaction: status, count, last_referral_at, reward withdrawal and audit', async () => {
    const ref = await referrerWithFriends(3, 'Revoked Rob');
    const rewardsBefore = await query(
      t.db,
      'select t.threshold, r.status from user_rewards r join reward_tiers t on t.id = r.tier_id where r.user_id = ? order by t.threshold',
      ref.id,
    );
    expect(rewardsBefore).toEqual([
      { threshold: 1, status: 'awarded' },
      { threshold: 3, status: 'awarded' },
    ]);
    const latest = await row<{ id: number }>('select id from referrals where referrer_id = ? order by id desc', ref.id);
    const res = await admin.post(`/admin/referrals/${latest.id}/revoke`).type('form').send({ _csrf: adminToken, return_to: '/admin/referrals' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/referrals');
    const after = await row<{ referrals_count: number; last_referral_at: number }>('select referrals_count, last_referral_at from users where id = ?', ref.id);
    expect(after.referrals_count).toBe(2);
    const second = await row<{ created_at: number }>(
      "select max(created_at) as created_at from referrals where referrer_id = ? and status = 'credited'",
      ref.id,
    );
    expect(after.last_referral_at).toBe(second.created_at);
    expect((await row<{ status: string }>('select status from referrals where id = ?', latest.id)).status).toBe('revoked');
    const rewardsAfter = await query(
      t.db,
      'select t.threshold, r.status from user_rewards r join reward_tiers t on t.id = r.tier_id where r.user_id = ? order by t.threshold',
      ref.id,
    );
    expect(rewardsAfter).toEqual([
      { threshold: 1, status: 'awarded' },
      { threshold: 3, status: 'withdrawn' },
    ]);
    expect((await row<{ action: string }>("select action from audit_log where target_type = 'referral' and target_id = ?", latest.id)).action).toBe(
      'referral.revoke',
    );
    const again = await admin.post(`/admin/referrals/${latest.id}/revoke`).type('form').send({ _csrf: adminToken });
    expect(again.status).toBe(409);
    expect((await row<{ referrals_count: number }>('select referrals_count from users where id = ?', ref.id)).referrals_count).toBe(2);
  });

  it('keeps a fulfilled reward when a revocation takes the count below it', async () => {
    const ref = await referrerWithFriends(1, 'Fulfilled Flo');
    const reward = await row<{ id: number }>('select id from user_rewards where user_id = ?', ref.id);
    const done = await admin.post(`/admin/user-rewards/${reward.id}/fulfill`).type('form').send({ _csrf: adminToken });
    expect(done.status).toBe(303);
    expect((await admin.post(`/admin/user-rewards/${reward.id}/fulfill`).type('form').send({ _csrf: adminToken })).status).toBe(409);
    // An id that names no reward is a 404, as for friend rewards; nothing is audited.
    const audits = await countOf(t.db, "select count(*) from audit_log where action = 'reward.fulfill'");
    expect((await admin.post('/admin/user-rewards/987654/fulfill').type('form').send({ _csrf: adminToken })).status).toBe(404);
    expect(await countOf(t.db, "select count(*) from audit_log where action = 'reward.fulfill'")).toBe(audits);
    const referral = await row<{ id: number }>('select id from referrals where referrer_id = ?', ref.id);
    await admin.post(`/admin/referrals/${referral.id}/revoke`).type('form').send({ _csrf: adminToken });
    expect((await row<{ status: string }>('select status from user_rewards where id = ?', reward.id)).status).toBe('fulfilled');
    expect((await t.request().get('/api/leaderboard')).body.entries.map((e: { name: string }) => e.name)).not.toContain('Fulfilled Flo');
  });

  it('ignores a return_to outside the admin area', async () => {
    const ref = await referrerWithFriends(1, 'Return Ray');
    const referral = await row<{ id: number }>('select id from referrals where referrer_id = ?', ref.id);
    const res = await admin.post(`/admin/referrals/${referral.id}/revoke`).type('form').send({ _csrf: adminToken, return_to: 'https://evil.example/admin' });
    expect(res.headers.location).toBe(`/admin/users/${ref.id}`);
  });
});

describe('reward tiers', () => {
  it('creates a tier and audits it', async () => {
    const res = await admin
      .post('/admin/rewards')
      .type('form')
      .send({ _csrf: adminToken, name: 'Mega fan', description: 'A signed poster', threshold: '50', active: 'on' });
    expect(res.status).toBe(303);
    const [tier] = await t.db.select().from(rewardTiers).where(eq(rewardTiers.threshold, 50));
    expect(tier!.active).toBe(true);
    expect((await row<{ action: string }>("select action from audit_log where target_type = 'reward_tier' and target_id = ?", tier!.id)).action).toBe(
      'tier.create',
    );
  });

  it.each([
    [{ name: '', threshold: '2' }, 'name'],
    [{ name: 'Zero', threshold: '0' }, 'threshold'],
    [{ name: 'Neg', threshold: '-3' }, 'threshold'],
    [{ name: 'Frac', threshold: '1.5' }, 'threshold'],
    [{ name: 'Word', threshold: 'ten' }, 'threshold'],
    [{ name: 'Huge', threshold: '99999999999' }, 'threshold'],
    [{ name: 'x'.repeat(81), threshold: '2' }, 'name'],
    [{ name: 'Bad active', threshold: '2', active: 'yes please' }, 'active'],
  ])('answers 400 with a field error for %j', async (fields, field) => {
    const before = await countOf(t.db, 'select count(*) from reward_tiers');
    const res = await admin
      .post('/admin/rewards')
      .type('form')
      .send({ _csrf: adminToken, ...fields });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(new RegExp(`id="e-${field}"`));
    expect(await countOf(t.db, 'select count(*) from reward_tiers')).toBe(before);
  });

  it('answers 400 for arrays and 409 for a threshold already in use', async () => {
    const arr = await admin.post('/admin/rewards').type('form').send(`_csrf=${adminToken}&name=A&name=B&threshold=4`);
    expect(arr.status).toBe(400);
    const dup = await admin.post('/admin/rewards').type('form').send({ _csrf: adminToken, name: 'Clash', threshold: '3' });
    expect(dup.status).toBe(409);
    expect(dup.text).toContain('Another tier already uses this threshold');
  });

  it('updates and deactivates a tier, which then stops being awarded', async () => {
    const tier = await row<{ id: number }>('select id from reward_tiers where threshold = 1');
    const res = await admin
      .post(`/admin/rewards/${tier.id}`)
      .type('form')
      .send({ _csrf: adminToken, name: 'First friend (retired)', description: '', threshold: '1' });
    expect(res.status).toBe(303);
    expect(await t.db.select({ active: rewardTiers.active, name: rewardTiers.name }).from(rewardTiers).where(eq(rewardTiers.id, tier.id))).toEqual([
      { active: false, name: 'First friend (retired)' },
    ]);
    const ref = await referrerWithFriends(1, 'After Deactivation');
    expect(await countOf(t.db, 'select count(*) from user_rewards where user_id = ?', ref.id)).toBe(0);
    await admin.post(`/admin/rewards/${tier.id}`).type('form').send({ _csrf: adminToken, name: 'First friend', description: '', threshold: '1', active: 'on' });
    expect((await admin.post('/admin/rewards/99999').type('form').send({ _csrf: adminToken, name: 'X', threshold: '77' })).status).toBe(404);
  });
});

describe('CSV exports', () => {
  it('streams users as text/csv with a header, no password hashes, and neutralised formulas', async () => {
    await insertUser(t.db, { name: '=HYPERLINK("http://evil.example","click")', email: 'formula@csv.test' });
    await insertUser(t.db, { name: '+1 555 0100', email: 'plus@csv.test' });
    await insertUser(t.db, { name: '@SUM(A1:A9)', email: 'at@csv.test' });
    await insertUser(t.db, { name: '-2+3', email: 'minus@csv.test' });
    const res = await admin.get('/admin/export/users.csv').buffer(true);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toContain('users.csv');
    const text = res.text;
    expect(text.split('\r\n')[0]).toBe('id,name,email,referral_code,referrals_count,referred_by_id,role,status,created_at');
    expect(text).not.toMatch(/\$2[aby]\$/);
    expect(text).not.toContain('password');
    expect(text).toContain(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
    expect(text).toContain("'+1 555 0100");
    expect(text).toContain("'@SUM(A1:A9)");
    expect(text).toContain("'-2+3");
    const lines = text.trim().split('\r\n');
    expect(lines.length - 1).toBe(await countOf(t.db, 'select count(*) from users'));
  });

  it('exports every row across many chunks', async () => {
    const before = await countOf(t.db, 'select count(*) from users');
    const bulk = Array.from({ length: 2500 }, (_, i): NewUser => {
      const email = `bulk${i}@csv.test`;
      return { name: `Bulk ${i}`, email, emailNormalized: email, passwordHash: 'x', referralCode: `B${String(i).padStart(7, '0')}`, createdAt: new Date(0) };
    });
    // In batches: one statement may bind at most 32,766 values on SQLite.
    for (let i = 0; i < bulk.length; i += 500) await t.db.insert(usersTable).values(bulk.slice(i, i + 500));
    const res = await admin.get('/admin/export/users.csv').buffer(true);
    expect(res.text.trim().split('\r\n').length - 1).toBe(before + 2500);
  });

  it('exports referrals with a header row', async () => {
    const res = await admin.get('/admin/export/referrals.csv').buffer(true);
    expect(res.text.split('\r\n')[0]).toBe('id,referrer_id,referred_user_id,referred_email,source,status,fraud_reasons,created_at,credited_at,revoked_at');
    expect(res.text.trim().split('\r\n').length - 1).toBe(await countOf(t.db, 'select count(*) from referrals'));
  });

  it('neutralises every risky first character and quotes separators', () => {
    expect(['=1', '+1', '-1', '@a', '\tx', '\rx'].map(csvCell)).toEqual(["'=1", "'+1", "'-1", "'@a", "'\tx", `"'\rx"`]);
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(null)).toBe('');
  });
});

describe('audit log page', () => {
  it('lists who did what to which target, newest first', async () => {
    const res = await admin.get('/admin/audit');
    expect(res.status).toBe(200);
    expect(res.text).toContain('The Boss');
    expect(res.text).toContain('referral.revoke');
    expect(res.text).toContain('tier.create');
  });
});

describe('npm run admin:create', () => {
  const run = promisify(execFile);
  const cli = (target: { dbFile: string; databaseUrl?: string }, ...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/cli/admin-create.ts'), ...args], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH,
        DATABASE_FILE: target.dbFile,
        ...(target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {}),
        BCRYPT_COST: '4',
        SESSION_SECRET: 'cli-secret-cli-secret-cli-secret-0123',
      },
    });

  it('creates an admin with a generated password, and promotes an existing account', async () => {
    const dir = tempDir();
    const { database, file, url, drop } = freshDatabase(dir);
    await database.close();
    const target = { dbFile: file, databaseUrl: url };
    try {
      const created = await cli(target, '--email', 'Cli.Admin@Example.com', '--name', 'Cli Admin');
      expect(created.stdout).toContain('Created admin Cli.Admin@Example.com');
      expect(created.stdout).toMatch(/Password \(shown once/);
      const check = openDatabaseOf(target);
      try {
        expect(await one(check.db, 'select role from users where email_normalized = ?', 'cli.admin@example.com')).toEqual({ role: 'admin' });
      } finally {
        await check.close();
      }

      const again = await cli(target, '--email', 'cli.admin@example.com');
      expect(again.stdout).toContain('is now an admin');
      await expect(cli(target, '--email', 'not-an-email')).rejects.toMatchObject({ code: 2 });
    } finally {
      drop();
    }
  }, 30_000);
});
