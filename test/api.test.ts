import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiIdempotency, apiKeys, auditLog, referrals, users } from '../src/db/schema.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { insertUser, userByEmail } from './helpers/db.js';
import { bare } from './helpers/extra.js';
import { csrfFor, login, signup, uniqueEmail } from './helpers/forms.js';

const ADMIN = 'api-boss@example.com';
const apps: TestApp[] = [];
afterAll(() => Promise.all(apps.map((a) => a.close())));

function app(env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const made = makeTestApp({ ADMIN_EMAILS: ADMIN, ...env });
  apps.push(made);
  return made;
}

/** An admin's browser on this app (signs up the admin the first time). */
async function adminOf(a: TestApp): Promise<supertest.Agent> {
  const agent = a.request();
  if (await userByEmail(a.db, ADMIN)) expect((await login(agent, ADMIN)).status).toBe(303);
  else expect((await signup(agent, { email: ADMIN, name: 'API Boss' })).status).toBe(303);
  return agent;
}

/** Makes a key through the admin page, as an operator does, and reads it off the page. */
async function newKey(a: TestApp, scope: 'read' | 'write', name = `${scope} key`): Promise<string> {
  const agent = await adminOf(a);
  const _csrf = await csrfFor(agent, '/admin/api-keys');
  const res = await agent.post('/admin/api-keys').type('form').send({ name, scope, _csrf });
  expect(res.status).toBe(201);
  const key = /value="(rk_[A-Za-z0-9_-]{43})"/.exec(res.text)?.[1];
  expect(key).toBeDefined();
  return key!;
}

const api = (a: TestApp, key?: string) => {
  const client = bare(a);
  return {
    get: (path: string) => (key ? client.get(`/api/v1${path}`).set('Authorization', `Bearer ${key}`) : client.get(`/api/v1${path}`)),
    post: (path: string, body?: object) => {
      const req = client.post(`/api/v1${path}`);
      if (key) req.set('Authorization', `Bearer ${key}`);
      return body === undefined ? req : req.send(body);
    },
    delete: (path: string) => {
      const req = client.delete(`/api/v1${path}`);
      return key ? req.set('Authorization', `Bearer ${key}`) : req;
    },
  };
};

function expectProblem(res: supertest.Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });
  if (code) expect(res.body.code).toBe(code);
}

describe('API keys in the admin area', () => {
  let t: TestApp;
  beforeAll(() => {
    t = app();
  });

  it('shows a new key once, stores only its SHA-256, and lists it by prefix afterwards', async () => {
    const key = await newKey(t, 'write', 'CRM sync');
    const [row] = await t.db.select().from(apiKeys).where(eq(apiKeys.name, 'CRM sync'));
    expect(row).toMatchObject({ scope: 'write', prefix: key.slice(0, 10), revokedAt: null, lastUsedAt: null });
    expect(row!.keyHash).toBe(crypto.createHash('sha256').update(key).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(key);
    const page = await (await adminOf(t)).get('/admin/api-keys');
    expect(page.status).toBe(200);
    expect(page.text).toContain(`${key.slice(0, 10)}…`);
    expect(page.text).not.toContain(key);
  });

  it('refuses a missing name, an unknown scope and control characters with 400 and keeps nothing', async () => {
    const agent = await adminOf(t);
    const before = (await t.db.select().from(apiKeys)).length;
    for (const body of [
      { name: '', scope: 'read' },
      { name: 'x', scope: 'admin' },
      { name: 'a\u0000b', scope: 'read' },
      { name: 'x'.repeat(81), scope: 'write' },
      { name: ['a', 'b'], scope: 'read' },
    ]) {
      const _csrf = await csrfFor(agent, '/admin/api-keys');
      const res = await agent
        .post('/admin/api-keys')
        .type('form')
        .send({ ...body, _csrf });
      expect(res.status).toBe(400);
      expect(res.text).toContain('field-error');
    }
    expect((await t.db.select().from(apiKeys)).length).toBe(before);
  });

  it('is for admins only, and needs the CSRF token', async () => {
    const user = t.request();
    await signup(user);
    expect((await user.get('/admin/api-keys')).status).toBe(403);
    const _csrf = await csrfFor(user, '/dashboard');
    expect((await user.post('/admin/api-keys').type('form').send({ name: 'x', scope: 'write', _csrf })).status).toBe(403);
    expect((await bare(t).get('/admin/api-keys')).status).toBe(302);
    const admin = await adminOf(t);
    expect((await admin.post('/admin/api-keys').type('form').send({ name: 'no token', scope: 'write' })).status).toBe(403);
  });

  it('revokes a key: its next request answers 401, and revoking again is a 404', async () => {
    const key = await newKey(t, 'read', 'to revoke');
    expect((await api(t, key).get('/leaderboard')).status).toBe(200);
    const [row] = await t.db.select().from(apiKeys).where(eq(apiKeys.name, 'to revoke'));
    expect(row!.lastUsedAt).not.toBeNull();
    const agent = await adminOf(t);
    let _csrf = await csrfFor(agent, '/admin/api-keys');
    const res = await agent.post(`/admin/api-keys/${row!.id}/revoke`).type('form').send({ _csrf });
    expect(res.status).toBe(303);
    expectProblem(await api(t, key).get('/leaderboard'), 401, 'invalid_token');
    _csrf = await csrfFor(agent, '/admin/api-keys');
    expect((await agent.post(`/admin/api-keys/${row!.id}/revoke`).type('form').send({ _csrf })).status).toBe(404);
    expect((await agent.post('/admin/api-keys/abc/revoke').type('form').send({ _csrf })).status).toBe(404);
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.targetType, 'api_key'));
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['api_key.create', 'api_key.revoke']));
  });
});

describe('authentication, scopes and errors', () => {
  let t: TestApp;
  let read: string;
  let write: string;
  beforeAll(async () => {
    t = app();
    read = await newKey(t, 'read');
    write = await newKey(t, 'write');
  });

  it('answers 401 problem+json with WWW-Authenticate for a missing, malformed or unknown key', async () => {
    const missing = await api(t).get('/leaderboard');
    expectProblem(missing, 401, 'missing_key');
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer rk_short', `Bearer ${read}x`, `Bearer ${'rk_' + 'A'.repeat(43)}`, `Token ${read}`]) {
      const res = await bare(t).get('/api/v1/leaderboard').set('Authorization', header);
      expectProblem(res, 401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('lets a read key read and answers 403 on every write route', async () => {
    expect((await api(t, read).get('/leaderboard')).status).toBe(200);
    const p = await api(t, write).post('/participants', { email: uniqueEmail('scope'), name: 'Scope Test' });
    expect(p.status).toBe(201);
    for (const [method, path] of [
      ['post', '/participants'],
      ['post', `/participants/${p.body.id}/login-links`],
      ['post', `/participants/${p.body.id}/verify`],
      ['post', '/conversions'],
      ['post', '/referrals/1/approve'],
      ['post', '/referrals/1/reject'],
      ['delete', `/participants/${p.body.id}`],
    ] as const) {
      const res = method === 'post' ? await api(t, read).post(path, {}) : await api(t, read).delete(path);
      expectProblem(res, 403, 'forbidden');
    }
    expect((await api(t, read).get(`/participants/${p.body.id}`)).body.status).toBe('active');
  });

  it('answers 404 problem+json for an unknown route and 405 with Allow for a known one with another method', async () => {
    expectProblem(await api(t, read).get('/nowhere'), 404, 'no_route');
    const res = await bare(t).put('/api/v1/participants').set('Authorization', `Bearer ${write}`).send({});
    expectProblem(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe('POST, GET');
  });

  it('answers 400 for malformed JSON, 415 for another content type and 413 past 100 kB, with nothing created', async () => {
    const before = (await t.db.select().from(users)).length;
    const broken = await bare(t).post('/api/v1/participants').set('Authorization', `Bearer ${write}`).type('application/json').send('{"email": ');
    expectProblem(broken, 400);
    const form = await bare(t).post('/api/v1/participants').set('Authorization', `Bearer ${write}`).type('form').send({ email: 'a@b.example', name: 'x' });
    expectProblem(form, 415);
    const huge = await api(t, write).post('/participants', { email: uniqueEmail('huge'), name: 'Huge', user_agent: 'x'.repeat(120_000) });
    expectProblem(huge, 413);
    expect((await t.db.select().from(users)).length).toBe(before);
  });
});

describe('participants', () => {
  let t: TestApp;
  let write: string;
  let read: string;
  beforeAll(async () => {
    t = app();
    write = await newKey(t, 'write');
    read = await newKey(t, 'read');
  });

  it('creates a participant with no password and answers 201 with the documented fields', async () => {
    const email = uniqueEmail('Ada');
    const res = await api(t, write).post('/participants', { email, name: '  Ada   Lovelace ' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(Number),
      email,
      name: 'Ada Lovelace',
      referral_code: expect.stringMatching(/^[0-9A-Z]{8}$/),
      referral_link: `${t.config.baseUrl}/r/${res.body.referral_code}`,
      referrals_count: 0,
      rank: null,
      referred_by_id: null,
      status: 'active',
      email_verified: false,
      converted_at: null,
      created_at: expect.any(String),
    });
    // No password: nothing logs in with one.
    const browser = t.request();
    expect((await login(browser, email, '')).status).toBe(400);
    expect((await login(browser, email, 'correct horse battery staple')).status).toBe(401);
  });

  it('answers 200 with the existing participant for the same email in any case, unchanged', async () => {
    const email = uniqueEmail('twice');
    const first = await api(t, write).post('/participants', { email, name: 'First Name' });
    const again = await api(t, write).post('/participants', { email: email.toUpperCase(), name: 'Other Name' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, name: 'First Name' });
  });

  it('creates exactly one participant when 20 requests race for one email', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(Array.from({ length: 20 }, () => api(t, write).post('/participants', { email, name: 'Racer' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => (r.body as { id: number }).id)).size).toBe(1);
    expect((await t.db.select().from(users).where(eq(users.emailNormalized, email))).length).toBe(1);
  });

  it('records the referral from referral_code and credits it (CREDIT_ON=signup here)', async () => {
    const referrer = await api(t, write).post('/participants', { email: uniqueEmail('ref'), name: 'Referrer' });
    const friend = await api(t, write).post('/participants', {
      email: uniqueEmail('friend'),
      name: 'Friend',
      referral_code: referrer.body.referral_code.toLowerCase(),
    });
    expect(friend.status).toBe(201);
    expect(friend.body.referred_by_id).toBe(referrer.body.id);
    const [row] = await t.db.select().from(referrals).where(eq(referrals.referredUserId, friend.body.id));
    expect(row).toMatchObject({ referrerId: referrer.body.id, source: 'api', status: 'credited' });
    expect((await api(t, read).get(`/participants/${referrer.body.id}`)).body).toMatchObject({ referrals_count: 1, rank: 1 });
  });

  it('answers 400 with a pointer per field for invalid input, and creates nothing', async () => {
    const before = (await t.db.select().from(users)).length;
    const cases: [object, string][] = [
      [{ name: 'No Email' }, 'email'],
      [{ email: 'not-an-email', name: 'x' }, 'email'],
      [{ email: uniqueEmail('n'), name: '' }, 'name'],
      [{ email: uniqueEmail('n'), name: 'Bidi \u202e name' }, 'name'],
      [{ email: uniqueEmail('n'), name: 'x'.repeat(61) }, 'name'],
      [{ email: uniqueEmail('n'), name: 42 }, 'name'],
      [{ email: [uniqueEmail('n')], name: 'Array' }, 'email'],
      [{ email: uniqueEmail('n'), name: 'x', referral_code: 'NOPE1234' }, 'referral_code'],
      [{ email: uniqueEmail('n'), name: 'x', ip: '999.1.1.1' }, 'ip'],
      [{ email: uniqueEmail('n'), name: 'x', admin: true }, 'admin'],
    ];
    for (const [body, field] of cases) {
      const res = await api(t, write).post('/participants', body);
      expectProblem(res, 400);
      expect(res.body.errors ?? [{ pointer: `#/${res.body.code === 'unknown_code' ? 'referral_code' : ''}` }]).toEqual(
        expect.arrayContaining([expect.objectContaining({ pointer: `#/${field}` })]),
      );
    }
    expect((await t.db.select().from(users)).length).toBe(before);
  });

  it('gets a participant by id and by email, and answers 400 or 404 for anything else', async () => {
    const email = uniqueEmail('find');
    const created = (await api(t, write).post('/participants', { email, name: 'Findable' })).body;
    expect((await api(t, read).get(`/participants/${created.id}`)).body).toEqual(created);
    expect((await api(t, read).get(`/participants?email=${encodeURIComponent(email.toUpperCase())}`)).body.id).toBe(created.id);
    expectProblem(await api(t, read).get('/participants/999999'), 404);
    expectProblem(await api(t, read).get(`/participants?email=${encodeURIComponent(uniqueEmail('nobody'))}`), 404);
    for (const bad of ['abc', '0', '-1', '1.5', '99999999999', "1' or '1'='1"])
      expectProblem(await api(t, read).get(`/participants/${encodeURIComponent(bad)}`), 400);
    expectProblem(await api(t, read).get('/participants?email=a@b.example&email=c@d.example'), 400);
    expectProblem(await api(t, read).get('/participants'), 400);
    expectProblem(await api(t, read).get(`/participants?email=${encodeURIComponent(email)}&extra=1`), 400);
  });

  it('makes a single-use login link that logs the participant into their dashboard for 10 minutes', async () => {
    const created = (await api(t, write).post('/participants', { email: uniqueEmail('link'), name: 'Linked Person' })).body;
    const res = await api(t, write).post(`/participants/${created.id}/login-links`);
    expect(res.status).toBe(201);
    expect(Date.parse(res.body.expires_at) - t.clock.now().getTime()).toBe(10 * 60 * 1000);
    const path = new URL(res.body.url).pathname;
    expect(path).toMatch(/^\/auth\/link\/[A-Za-z0-9_-]{43}$/);
    const browser = t.request();
    const opened = await browser.get(path);
    expect(opened.status).toBe(303);
    expect(opened.headers.location).toBe('/dashboard');
    expect(opened.headers['referrer-policy']).toBe('no-referrer');
    const dashboard = await browser.get('/dashboard');
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain('Linked Person');
    expect((await t.request().get(path)).status).toBe(400);

    const late = await api(t, write).post(`/participants/${created.id}/login-links`);
    t.clock.advance(10 * 60 * 1000 + 1);
    expect((await t.request().get(new URL(late.body.url).pathname)).status).toBe(400);
    expectProblem(await api(t, write).post('/participants/999999/login-links'), 404);
    expectProblem(await api(t, write).post(`/participants/${created.id}/login-links`, { extra: 1 }), 400);
  });

  it('deletes by pseudonymising: gone for the API, off the leaderboard, counts kept, the email free again', async () => {
    const email = uniqueEmail('leaving');
    const leaving = (await api(t, write).post('/participants', { email, name: 'Leaving Soon' })).body;
    const friend = (await api(t, write).post('/participants', { email: uniqueEmail('stays'), name: 'Stays', referral_code: leaving.referral_code })).body;
    expect((await api(t, read).get('/leaderboard')).body.data.map((e: { name: string }) => e.name)).toContain('Leaving Soon');

    expect((await api(t, write).delete(`/participants/${leaving.id}`)).status).toBe(204);
    expectProblem(await api(t, read).get(`/participants/${leaving.id}`), 404);
    expectProblem(await api(t, write).delete(`/participants/${leaving.id}`), 404);
    const [row] = await t.db.select().from(users).where(eq(users.id, leaving.id));
    expect(row).toMatchObject({ name: 'Deleted user', email: '', status: 'disabled', referralsCount: 1 });
    expect(row!.deletedAt).not.toBeNull();
    expect((await api(t, read).get('/leaderboard')).body.data.map((e: { name: string }) => e.name)).not.toContain('Leaving Soon');
    const [history] = await t.db.select().from(referrals).where(eq(referrals.referredUserId, friend.id));
    expect(history).toMatchObject({ referrerId: leaving.id, status: 'credited' });

    const back = await api(t, write).post('/participants', { email, name: 'Back Again' });
    expect(back.status).toBe(201);
    expect(back.body.id).not.toBe(leaving.id);
  });
});

describe('Idempotency-Key', () => {
  let t: TestApp;
  let write: string;
  beforeAll(async () => {
    t = app();
    write = await newKey(t, 'write');
  });
  const withKey = (key: string, body: object, path = '/participants') =>
    bare(t).post(`/api/v1${path}`).set('Authorization', `Bearer ${write}`).set('Idempotency-Key', key).send(body);

  it('replays the first answer, status included, for 24 hours', async () => {
    const body = { email: uniqueEmail('idem'), name: 'Idem Potent' };
    const first = await withKey('order-1', body);
    expect(first.status).toBe(201);
    const replay = await withKey('order-1', body);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    t.clock.advance(24 * 60 * 60 * 1000 + 1);
    const later = await withKey('order-1', body);
    expect(later.status).toBe(200);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
  });

  it('answers 422 when the key comes back with another request, and 400 for a malformed key', async () => {
    await withKey('order-2', { email: uniqueEmail('a'), name: 'A' });
    expectProblem(await withKey('order-2', { email: uniqueEmail('b'), name: 'B' }), 422, 'idempotency_key_reused');
    for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
      const res = await bare(t)
        .post('/api/v1/participants')
        .set('Authorization', `Bearer ${write}`)
        .set('Idempotency-Key', key)
        .send({ email: uniqueEmail('k'), name: 'K' });
      expect(res.status).toBe(400);
    }
  });

  it('runs one of 10 simultaneous requests with one key; the others replay it or are told it is running', async () => {
    const body = { email: uniqueEmail('together'), name: 'Together' };
    const results = await Promise.all(Array.from({ length: 10 }, () => withKey('order-3', body)));
    const ran = results.filter((r) => r.status === 201 && !r.headers['idempotent-replayed']);
    expect(ran).toHaveLength(1);
    for (const r of results) expect([201, 409]).toContain(r.status);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === 'idempotency_in_progress')).toBe(true);
    expect((await t.db.select().from(users).where(eq(users.emailNormalized, body.email))).length).toBe(1);
  });

  it('keeps no answer for a request that failed, so the retry runs', async () => {
    const failed = await withKey('order-4', { participant_id: 999999 }, '/conversions');
    expectProblem(failed, 404);
    const retried = await withKey('order-4', { participant_id: 999999 }, '/conversions');
    expectProblem(retried, 404);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await t.db.select().from(apiIdempotency).where(eq(apiIdempotency.key, 'order-4'))).toHaveLength(0);
  });
});

describe('per-key rate limit', () => {
  it('sends RateLimit and RateLimit-Policy, answers 429 with Retry-After past the budget, and keeps keys apart', async () => {
    const t = app({ RATE_API_PER_MINUTE: '5' });
    const key = await newKey(t, 'read');
    const other = await newKey(t, 'read', 'other');
    for (let i = 1; i <= 5; i++) {
      const res = await api(t, key).get('/leaderboard');
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe('"per-key";q=5;w=60');
      expect(res.headers.ratelimit).toMatch(new RegExp(`^"per-key";r=${5 - i};t=\\d+$`));
    }
    const refused = await api(t, key).get('/leaderboard');
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers.ratelimit).toMatch(/^"per-key";r=0;t=\d+$/);
    expect((await api(t, other).get('/leaderboard')).status).toBe(200);
  });
});

describe('confirmation and conversions', () => {
  it('credits under CREDIT_ON=verified when the host marks the email confirmed', async () => {
    const t = app({ CREDIT_ON: 'verified' });
    const write = await newKey(t, 'write');
    const referrer = (await api(t, write).post('/participants', { email: uniqueEmail('r'), name: 'Referrer' })).body;
    const friend = (await api(t, write).post('/participants', { email: uniqueEmail('f'), name: 'Friend', referral_code: referrer.referral_code })).body;
    expect((await api(t, write).get(`/participants/${referrer.id}`)).body.referrals_count).toBe(0);
    const verified = await api(t, write).post(`/participants/${friend.id}/verify`);
    expect(verified.status).toBe(200);
    expect(verified.body.email_verified).toBe(true);
    expect((await api(t, write).get(`/participants/${referrer.id}`)).body.referrals_count).toBe(1);
    expect((await api(t, write).post(`/participants/${friend.id}/verify`)).status).toBe(200);
    expect((await api(t, write).get(`/participants/${referrer.id}`)).body.referrals_count).toBe(1);
  });

  it('credits under CREDIT_ON=conversion on the first report only, and not on confirmation', async () => {
    const t = app({ CREDIT_ON: 'conversion' });
    const write = await newKey(t, 'write');
    const referrer = (await api(t, write).post('/participants', { email: uniqueEmail('r'), name: 'Referrer' })).body;
    const friend = (await api(t, write).post('/participants', { email: uniqueEmail('f'), name: 'Friend', referral_code: referrer.referral_code })).body;
    await api(t, write).post(`/participants/${friend.id}/verify`);
    expect((await api(t, write).get(`/participants/${referrer.id}`)).body.referrals_count).toBe(0);

    const first = await api(t, write).post('/conversions', { participant_id: friend.id });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ participant_id: friend.id, referral: { status: 'credited', referrer_id: referrer.id } });
    t.clock.advance(60_000);
    const again = await Promise.all(Array.from({ length: 5 }, () => api(t, write).post('/conversions', { participant_id: friend.id })));
    for (const r of again) expect(r.body.converted_at).toBe(first.body.converted_at);
    expect((await api(t, write).get(`/participants/${referrer.id}`)).body).toMatchObject({ referrals_count: 1 });
    expect((await api(t, write).get(`/participants/${friend.id}`)).body.converted_at).toBe(first.body.converted_at);

    // A participant nobody referred converts too; there is just no referral.
    expect((await api(t, write).post('/conversions', { participant_id: referrer.id })).body.referral).toBeNull();
    expectProblem(await api(t, write).post('/conversions', { participant_id: 999999 }), 404);
    for (const body of [{}, { participant_id: '1' }, { participant_id: 1.5 }, { participant_id: -1 }, { participant_id: 1, more: true }]) {
      expectProblem(await api(t, write).post('/conversions', body), 400);
    }
  });
});

describe('referrals and the leaderboard', () => {
  let t: TestApp;
  let write: string;
  let read: string;
  beforeAll(async () => {
    t = app({ FRAUD_SCREEN: 'on', CREDIT_ON: 'signup' });
    write = await newKey(t, 'write');
    read = await newKey(t, 'read');
  });

  it('holds a referral the screen flags and lets a write key approve or reject it once', async () => {
    const referrer = (await api(t, write).post('/participants', { email: uniqueEmail('r'), name: 'Reviewer Test', ip: '198.51.100.1' })).body;
    const held = [];
    for (let i = 0; i < 3; i++) {
      const friend = (
        await api(t, write).post('/participants', { email: `held${i}.${Date.now()}@mailinator.com`, name: `Held ${i}`, referral_code: referrer.referral_code })
      ).body;
      const [row] = await t.db.select().from(referrals).where(eq(referrals.referredUserId, friend.id));
      expect(row).toMatchObject({ status: 'held', fraudReasons: 'disposable_email' });
      held.push(row!.id);
    }
    const approved = await api(t, write).post(`/referrals/${held[0]}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: held[0], status: 'credited', fraud_reasons: ['disposable_email'] });
    expectProblem(await api(t, write).post(`/referrals/${held[0]}/approve`), 409);
    expectProblem(await api(t, write).post(`/referrals/${held[0]}/reject`), 409);
    const rejected = await api(t, write).post(`/referrals/${held[1]}/reject`);
    expect(rejected.body.status).toBe('rejected');
    expectProblem(await api(t, write).post('/referrals/999999/approve'), 404);
    expectProblem(await api(t, write).post('/referrals/abc/approve'), 400);
    expect((await api(t, read).get(`/participants/${referrer.id}`)).body.referrals_count).toBe(1);
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.targetId, held[0]!));
    expect(audit.find((a) => a.action === 'referral.approve')).toMatchObject({ actorId: null });
    expect(JSON.parse(audit.find((a) => a.action === 'referral.approve')!.details)).toMatchObject({ apiKeyId: expect.any(Number) });

    const heldOnly = await api(t, read).get(`/referrals?status=held&referrer_id=${referrer.id}`);
    expect(heldOnly.body.data.map((r: { id: number }) => r.id)).toEqual([held[2]]);
  });

  it('pages every referral once, in order, with opaque cursors, and refuses bad filters', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res: supertest.Response = await api(t, read).get(`/referrals?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((r: { id: number }) => r.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    const all = (await t.db.select({ id: referrals.id }).from(referrals)).map((r) => r.id).sort((a, b) => a - b);
    expect(seen).toEqual(all);
    for (const q of [
      'status=maybe',
      'limit=0',
      'limit=101',
      'limit=x',
      'referrer_id=0',
      'cursor=forged',
      `cursor=${Buffer.from('r1 or 1').toString('base64url')}`,
      'status=held&status=credited',
    ]) {
      expectProblem(await api(t, read).get(`/referrals?${q}`), 400);
    }
  });

  it('pages the leaderboard 20 rows at a time by cursor, and refuses forged cursors', async () => {
    for (let i = 0; i < 45; i++) await insertUser(t.db, { name: `Ranked ${i}`, referralsCount: 100 + i });
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: supertest.Response = await api(t, read).get(`/leaderboard${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      names.push(...res.body.data.map((e: { name: string }) => e.name));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(Math.ceil(names.length / 20));
    expect(names.slice(0, 3)).toEqual(['Ranked 44', 'Ranked 43', 'Ranked 42']);
    expect(new Set(names).size).toBe(names.length);
    for (const bad of ['x', '0.abc', '2', '2.', '2.***']) expectProblem(await api(t, read).get(`/leaderboard?cursor=${encodeURIComponent(bad)}`), 400);
    expectProblem(await api(t, read).get('/leaderboard?cursor=999.AAAA'), 404);
  });
});

describe('the OpenAPI document and reference page', () => {
  let t: TestApp;
  beforeAll(() => {
    t = app();
  });

  it('describes every route the API serves, publicly, as OpenAPI 3.1', async () => {
    const res = await bare(t).get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, { security: unknown; responses: Record<string, unknown> }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, o]) => ({ route: `${method.toUpperCase()} ${path}`, o })),
    );
    expect(ops.map((o) => o.route).sort()).toEqual(
      [
        'POST /participants',
        'GET /participants',
        'GET /participants/{id}',
        'DELETE /participants/{id}',
        'POST /participants/{id}/login-links',
        'POST /participants/{id}/verify',
        'POST /conversions',
        'GET /referrals',
        'POST /referrals/{id}/approve',
        'POST /referrals/{id}/reject',
        'GET /leaderboard',
      ].sort(),
    );
    for (const { o } of ops) {
      expect(o.security).toEqual([{ apiKey: [] }]);
      expect(Object.keys(o.responses)).toEqual(expect.arrayContaining(['401', '429']));
    }
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.CreateParticipant.required).toEqual(expect.arrayContaining(['email', 'name']));
    expect(doc.components.schemas.Participant.properties).toHaveProperty('referral_link');
  });

  it('serves a readable reference page with no script, under the CSP', async () => {
    const res = await bare(t).get('/api/v1/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc="\/)/);
    for (const route of ['POST /participants', 'GET /leaderboard', 'POST /referrals/{id}/approve']) expect(res.text).toContain(route);
  });
});
