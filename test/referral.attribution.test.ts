import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { referralClicks, referrals } from '../src/db/schema.js';
import { makeTestApp } from './helpers/app.js';
import { cookieValue, setCookieLine } from './helpers/extra.js';
import { countOf, insertUser, userByEmail } from './helpers/db.js';
import { csrfFor, csrfFrom, signup, uniqueEmail } from './helpers/forms.js';

const t = makeTestApp();
afterAll(() => t.close());

const userRow = (email: string) => userByEmail(t.db, email);

async function newReferrer(name = 'Referrer') {
  const agent = t.request();
  const email = uniqueEmail('ref');
  const res = await signup(agent, { name, email });
  expect(res.status).toBe(303);
  const user = (await userRow(email))!;
  return { agent, email, user, code: user.referralCode };
}

describe('GET /r/:code', () => {
  it('counts a click, sets a 30-day ref cookie and redirects to the sign-up form with the code', async () => {
    const { user, code } = await newReferrer();
    const res = await t.request().get(`/r/${code}`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/auth/signup?ref=${code}`);
    const line = setCookieLine(res, 'ref')!;
    expect(line).toContain(`ref=${code}`);
    expect(line).toMatch(/Max-Age=2592000/);
    expect(line).toMatch(/HttpOnly/);
    expect(await countOf(t.db, 'select count(*) from referral_clicks where referrer_id = ?', user.id)).toBe(1);
  });

  it('accepts the code in lower case and with look-alike letters', async () => {
    const { code } = await newReferrer();
    const typed = code.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l');
    const res = await t.request().get(`/r/${typed}`);
    expect(res.headers.location).toBe(`/auth/signup?ref=${code}`);
  });

  it('sends an unknown code to the plain sign-up form without a cookie or a click', async () => {
    const before = await countOf(t.db, 'select count(*) from referral_clicks');
    const res = await t.request().get('/r/ZZZZZZZZ');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/auth/signup');
    expect(setCookieLine(res, 'ref')).toBeUndefined();
    expect(await countOf(t.db, 'select count(*) from referral_clicks')).toBe(before);
  });

  it('treats garbage and oversized codes as unknown', async () => {
    for (const code of ['%3Cscript%3E', 'a'.repeat(500), '12345', '%00%0d%0a']) {
      const res = await t.request().get(`/r/${code}`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/auth/signup');
    }
  });

  it('lets the last link clicked win', async () => {
    const a = await newReferrer('A');
    const b = await newReferrer('B');
    const visitor = t.request();
    await visitor.get(`/r/${a.code}`);
    const second = await visitor.get(`/r/${b.code}`);
    expect(cookieValue(second, 'ref')).toBe(b.code);
    const form = await visitor.get('/auth/signup');
    expect(form.text).toContain(`value="${b.code}"`);
  });

  it('does not count a referrer clicking their own link', async () => {
    const { agent, user, code } = await newReferrer();
    await agent.get(`/r/${code}`);
    expect(await countOf(t.db, 'select count(*) from referral_clicks where referrer_id = ?', user.id)).toBe(0);
  });

  it('stores only hashes of the client address and user agent', async () => {
    const { user, code } = await newReferrer();
    await t.request().get(`/r/${code}`).set('User-Agent', 'Phone Browser 1.0');
    const [row] = await t.db.select().from(referralClicks).where(eq(referralClicks.referrerId, user.id));
    expect(JSON.stringify(row)).not.toContain('127.0.0.1');
    expect(JSON.stringify(row)).not.toContain('Phone Browser');
    expect(row!.ipHash).toMatch(/^[\w-]{22}$/);
  });
});

describe('sign-up with a referral code', () => {
  it('pre-fills the code from ?ref and from the ref cookie', async () => {
    const { code } = await newReferrer();
    const fromQuery = await t.request().get(`/auth/signup?ref=${code.toLowerCase()}`);
    expect(fromQuery.text).toContain(`value="${code}"`);
    const visitor = t.request();
    await visitor.get(`/r/${code}`);
    const fromCookie = await visitor.get('/auth/signup');
    expect(fromCookie.text).toContain(`value="${code}"`);
  });

  it('credits the referrer: referral row, count and referred_by in one go', async () => {
    const ref = await newReferrer();
    const email = uniqueEmail('friend');
    const res = await signup(t.request(), { email, referral_code: ref.code });
    expect(res.status).toBe(303);
    const friend = (await userRow(email))!;
    expect(friend.referredById).toBe(ref.user.id);
    expect((await userRow(ref.email))!.referralsCount).toBe(1);
    expect((await userRow(ref.email))!.lastReferralAt).not.toBeNull();
    const [row] = await t.db.select().from(referrals).where(eq(referrals.referredUserId, friend.id));
    expect(row).toMatchObject({ referrerId: ref.user.id, source: 'signup', status: 'credited', referredEmail: email });
  });

  it('clears the ref cookie once it has been used', async () => {
    const ref = await newReferrer();
    const visitor = t.request();
    await visitor.get(`/r/${ref.code}`);
    const res = await signup(visitor, { referral_code: ref.code });
    expect(setCookieLine(res, 'ref')).toMatch(/Expires=Thu, 01 Jan 1970/);
  });

  it('answers 400 with a field error and creates nothing for an unknown code', async () => {
    const email = uniqueEmail('nobody');
    const res = await signup(t.request(), { email, referral_code: 'ZZZZZZZZ' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('That referral code does not exist');
    expect(res.text).toContain('aria-invalid="true"');
    expect(await userRow(email)).toBeUndefined();
  });

  it('refuses the code of a disabled referrer and creates nothing', async () => {
    const disabled = await insertUser(t.db, { status: 'disabled' });
    const email = uniqueEmail('late');
    const res = await signup(t.request(), { email, referral_code: disabled.referralCode });
    expect(res.status).toBe(400);
    expect(await userRow(email)).toBeUndefined();
    expect(await countOf(t.db, 'select referrals_count from users where id = ?', disabled.id)).toBe(0);
  });

  it('creates the account without a referrer when the code is left empty', async () => {
    const email = uniqueEmail('solo');
    const res = await signup(t.request(), { email, referral_code: '  ' });
    expect(res.status).toBe(303);
    expect((await userRow(email))!.referredById).toBeNull();
  });
});

describe('the dashboard of a referrer with many referrals', () => {
  it('lists the 20 most recent people, and charts every credited one per day', async () => {
    const ref = await newReferrer('Busy Referrer');
    for (let i = 1; i <= 23; i++) expect((await signup(t.request(), { name: `Busy Friend ${i}`, referral_code: ref.code })).status).toBe(303);
    const html = (await ref.agent.get('/dashboard')).text;
    const people = /<h2 id="people-h">[\s\S]*?<\/section>/.exec(html)![0];
    const names = [...people.matchAll(/<td>(Busy Friend \d+)<\/td>/g)].map((m) => m[1]);
    expect(names).toEqual(Array.from({ length: 20 }, (_, i) => `Busy Friend ${23 - i}`));
    expect(people).toContain('Your 20 most recent.');
    expect(html).toMatch(/data-stat="referrals">23</);
    // The chart's table: today's row holds all 23, from the per-day counts.
    const chartRows = [...html.matchAll(/<tr><th scope="row">[^<]+<\/th><td class="num">(\d+)<\/td><\/tr>/g)].map((m) => Number(m[1]));
    expect(chartRows).toHaveLength(30);
    expect(chartRows.at(-1)).toBe(23);
    expect(chartRows.reduce((a, b) => a + b, 0)).toBe(23);
  });
});

describe('POST /referral/process_referral', () => {
  async function newUserWithToken() {
    const agent = t.request();
    const email = uniqueEmail('applier');
    await signup(agent, { email });
    const token = await csrfFor(agent, '/dashboard');
    return { agent, email, token, user: (await userRow(email))! };
  }

  it('applies a code over JSON and answers with the referrer name', async () => {
    const ref = await newReferrer('Grace Hopper');
    const me = await newUserWithToken();
    const res = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: ref.code });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, referrer: { name: 'Grace Hopper' } });
    expect((await userRow(ref.email))!.referralsCount).toBe(1);
    expect((await userRow(me.email))!.referredById).toBe(ref.user.id);
    const [row] = await t.db.select({ source: referrals.source }).from(referrals).where(eq(referrals.referredUserId, me.user.id));
    expect(row!.source).toBe('applied');
  });

  it('applies a code from the dashboard form with 303 and a flash', async () => {
    const ref = await newReferrer('Form Referrer');
    const me = await newUserWithToken();
    const res = await me.agent.post('/referral/process_referral').type('form').send({ referral_code: ref.code.toLowerCase(), _csrf: me.token });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    const dash = await me.agent.get('/dashboard');
    expect(dash.text).toContain('Form Referrer has been credited');
    expect(dash.text).not.toContain('action="/referral/process_referral"');
  });

  it('refuses your own code by JSON and by form, changing nothing', async () => {
    const me = await newUserWithToken();
    const json = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: me.user.referralCode });
    expect(json.status).toBe(400);
    expect(json.body.error).toMatch(/your own code/);
    const form = await me.agent.post('/referral/process_referral').type('form').send({ referral_code: me.user.referralCode, _csrf: me.token });
    expect(form.status).toBe(303);
    expect((await me.agent.get('/dashboard')).text).toContain('your own code');
    expect((await userRow(me.email))!.referralsCount).toBe(0);
    expect((await userRow(me.email))!.referredById).toBeNull();
  });

  it('refuses an unknown code with 400', async () => {
    const me = await newUserWithToken();
    const res = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: 'ZZZZZZZZ' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/does not exist/);
  });

  it('refuses a second referrer with 409, even a different one', async () => {
    const a = await newReferrer();
    const b = await newReferrer();
    const me = await newUserWithToken();
    expect((await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: a.code })).status).toBe(200);
    const again = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: b.code });
    expect(again.status).toBe(409);
    expect((await userRow(b.email))!.referralsCount).toBe(0);
  });

  it('refuses users who signed up with a code', async () => {
    const a = await newReferrer();
    const b = await newReferrer();
    const agent = t.request();
    await signup(agent, { referral_code: a.code });
    const token = await csrfFor(agent, '/dashboard');
    const res = await agent.post('/referral/process_referral').set('x-csrf-token', token).send({ referral_code: b.code });
    expect(res.status).toBe(409);
  });

  it('refuses a disabled referrer', async () => {
    const disabled = await insertUser(t.db, { status: 'disabled' });
    const me = await newUserWithToken();
    const res = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: disabled.referralCode });
    expect(res.status).toBe(400);
    expect((await userRow(me.email))!.referredById).toBeNull();
  });

  it('refuses after the 30-day window and accepts just inside it', async () => {
    const ref = await newReferrer();
    const me = await newUserWithToken();
    const day = 24 * 60 * 60 * 1000;
    t.clock.advance(30 * day);
    const late = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: ref.code });
    t.clock.advance(-30 * day);
    expect(late.status).toBe(403);
    t.clock.advance(30 * day - 60_000);
    const inTime = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: ref.code });
    t.clock.advance(-(30 * day - 60_000));
    expect(inTime.status).toBe(200);
  });

  it('refuses a direct cycle: you cannot be referred by someone you referred', async () => {
    const me = await newUserWithToken();
    const friendEmail = uniqueEmail('friend');
    await signup(t.request(), { email: friendEmail, referral_code: me.user.referralCode });
    const friend = (await userRow(friendEmail))!;
    const res = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send({ referral_code: friend.referralCode });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/you referred this person/i);
    expect((await userRow(me.email))!.referredById).toBeNull();
  });

  it('refuses a longer cycle through a chain of referrals', async () => {
    const me = await newUserWithToken();
    const bEmail = uniqueEmail('b');
    await signup(t.request(), { email: bEmail, referral_code: me.user.referralCode });
    const cEmail = uniqueEmail('c');
    await signup(t.request(), { email: cEmail, referral_code: (await userRow(bEmail))!.referralCode });
    const res = await me.agent
      .post('/referral/process_referral')
      .set('x-csrf-token', me.token)
      .send({ referral_code: (await userRow(cEmail))!.referralCode });
    expect(res.status).toBe(400);
  });

  it('answers 400 for malformed input: missing, array, object, oversized', async () => {
    const me = await newUserWithToken();
    for (const body of [{}, { referral_code: ['A', 'B'] }, { referral_code: { $gt: '' } }, { referral_code: 'x'.repeat(5000) }, { referral_code: 42 }]) {
      const res = await me.agent.post('/referral/process_referral').set('x-csrf-token', me.token).send(body);
      expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(400);
      expect(typeof res.body.error).toBe('string');
    }
    const form = await me.agent.post('/referral/process_referral').type('form').send(`referral_code=A&referral_code=B&_csrf=${me.token}`);
    expect(form.status).toBe(400);
    expect(form.text).toContain('aria-invalid="true"');
    expect((await userRow(me.email))!.referredById).toBeNull();
  });

  it('requires a login: anonymous callers get 401 and nothing changes', async () => {
    const anon = t.request();
    const page = await anon.get('/auth/login');
    const res = await anon.post('/referral/process_referral').set('x-csrf-token', csrfFrom(page.text)).send({ referral_code: 'ZZZZZZZZ' });
    expect(res.status).toBe(401);
  });

  it('requires the CSRF token', async () => {
    const ref = await newReferrer();
    const me = await newUserWithToken();
    const res = await me.agent.post('/referral/process_referral').send({ referral_code: ref.code });
    expect(res.status).toBe(403);
    expect((await userRow(ref.email))!.referralsCount).toBe(0);
  });
});

describe('apply rate limit', () => {
  it('answers 429 with Retry-After after 10 attempts in an hour', async () => {
    const limited = makeTestApp({ RATE_APPLY_PER_USER: '10' });
    try {
      const agent = limited.request();
      await signup(agent);
      const token = await csrfFor(agent, '/dashboard');
      for (let i = 0; i < 10; i++) {
        const res = await agent.post('/referral/process_referral').set('x-csrf-token', token).send({ referral_code: 'ZZZZZZZZ' });
        expect(res.status).toBe(400);
      }
      const res = await agent.post('/referral/process_referral').set('x-csrf-token', token).send({ referral_code: 'ZZZZZZZZ' });
      expect(res.status).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
