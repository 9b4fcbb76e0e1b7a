import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLog, emailOutbox, referrals } from '../src/db/schema.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { userByEmail } from './helpers/db.js';
import { setCookieLine } from './helpers/extra.js';
import { csrfFor, login, signup, uniqueEmail } from './helpers/forms.js';
import { confirmEmail, verifyPathFor } from './helpers/mailbox.js';

// The real defaults: credit when the friend confirms, fraud screen on. TRUST_PROXY lets
// each test browser come from its own network through X-Forwarded-For.
const ADMIN = 'review-boss@example.com';
const t = makeTestApp({ CREDIT_ON: 'verified', FRAUD_SCREEN: 'on', TRUST_PROXY: '1', ADMIN_EMAILS: ADMIN });
const apps: TestApp[] = [t];
afterAll(() => Promise.all(apps.map((a) => a.close())));

let network = 0;
/** An address on a /24 no other test browser uses. */
const freshIp = () => {
  network += 1;
  return `100.${64 + Math.floor(network / 250)}.${network % 250}.10`;
};
/** A browser of its own (cookie jar, device cookie) on a network of its own. */
const browser = (app: TestApp = t, ip = freshIp()) => app.request().set('X-Forwarded-For', ip);

const userOf = async (app: TestApp, email: string) => (await userByEmail(app.db, email))!;
const referralOf = async (app: TestApp, referredEmail: string) => {
  const [referral] = await app.db
    .select()
    .from(referrals)
    .where(eq(referrals.referredUserId, (await userOf(app, referredEmail)).id));
  return referral!;
};
const referralById = async (id: number) => (await t.db.select().from(referrals).where(eq(referrals.id, id)))[0]!;
const mailsTo = async (app: TestApp, email: string) =>
  (await app.db.select({ kind: emailOutbox.kind }).from(emailOutbox).where(eq(emailOutbox.toAddress, email))).map((m) => m.kind);

async function newReferrer(app: TestApp = t, options: { email?: string; confirmed?: boolean; ip?: string } = {}) {
  const agent = browser(app, options.ip);
  const email = options.email ?? uniqueEmail('referrer');
  expect((await signup(agent, { email, name: 'Rita Referrer' })).status).toBe(303);
  if (options.confirmed !== false) await confirmEmail(agent, app.db, email);
  const user = await userOf(app, email);
  return { agent, email, code: user.referralCode, id: user.id };
}

async function friendOf(code: string, options: { app?: TestApp; email?: string; agent?: ReturnType<typeof browser>; name?: string } = {}) {
  const app = options.app ?? t;
  const agent = options.agent ?? browser(app);
  const email = options.email ?? uniqueEmail('friend');
  const res = await signup(agent, { email, name: options.name ?? 'Fred Friend', referral_code: code });
  expect(res.status).toBe(303);
  return { agent, email };
}

describe('the referral lifecycle under CREDIT_ON=verified', () => {
  it('keeps a referral pending, uncounted, until the friend confirms their email', async () => {
    const referrer = await newReferrer();
    const friend = await friendOf(referrer.code);
    expect((await referralOf(t, friend.email)).status).toBe('pending');
    expect((await userOf(t, referrer.email)).referralsCount).toBe(0);

    const dash = await referrer.agent.get('/dashboard');
    expect(dash.text).toContain('1 waiting for your friend to confirm their email');
    expect(dash.text).toContain('Waiting for them to confirm their email');
    const friendDash = await friend.agent.get('/dashboard');
    expect(friendDash.text).toContain('Confirm your email address.');
    expect((await t.request().get('/referral/leaderboard')).text).not.toContain('Rita Referrer');
  });

  it('credits once when the friend opens the emailed link, with no session needed', async () => {
    const referrer = await newReferrer();
    const friend = await friendOf(referrer.code);
    const link = await verifyPathFor(t.db, friend.email);

    const phone = t.request(); // the mail app's browser: no cookies at all
    const opened = await phone.get(link);
    expect(opened.status).toBe(303);
    expect(opened.headers.location).toBe('/auth/login');
    expect(opened.headers['referrer-policy']).toBe('no-referrer');
    const referral = await referralOf(t, friend.email);
    expect(referral.status).toBe('credited');
    expect(referral.creditedAt).toBeInstanceOf(Date);
    expect(referral.fraudReasons).toBe('');
    expect((await userOf(t, friend.email)).emailVerifiedAt).toBeInstanceOf(Date);
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);

    const again = await phone.get(link);
    expect(again.status).toBe(400);
    expect(again.text).toContain('This link no longer works');
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    expect((await mailsTo(t, referrer.email)).filter((k) => k === 'referral_joined')).toHaveLength(1);
  });

  it('sends a logged-in person back to their dashboard after confirming', async () => {
    const referrer = await newReferrer();
    const friend = await friendOf(referrer.code);
    const res = await friend.agent.get(await verifyPathFor(t.db, friend.email));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    const dash = await friend.agent.get('/dashboard');
    expect(dash.text).toContain('Your email address is confirmed');
    expect(dash.text).not.toContain('Confirm your email address.');
  });

  it('credits exactly once when one link is opened ten times at the same moment', async () => {
    const referrer = await newReferrer();
    const friend = await friendOf(referrer.code);
    const link = await verifyPathFor(t.db, friend.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => t.request().get(link)));
    expect(results.map((r) => r.status).sort()).toEqual([303, ...Array<number>(9).fill(400)]);
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    expect((await mailsTo(t, referrer.email)).filter((k) => k === 'referral_joined')).toHaveLength(1);
  });

  it('refuses a link after 72 hours, and a resent link replaces the old one', async () => {
    const referrer = await newReferrer();
    const friend = await friendOf(referrer.code);
    const first = await verifyPathFor(t.db, friend.email);
    t.clock.advance(72 * 60 * 60 * 1000 + 1);
    try {
      expect((await t.request().get(first)).status).toBe(400);
      const token = await csrfFor(friend.agent, '/dashboard');
      const resent = await friend.agent.post('/auth/verify/resend').type('form').send({ _csrf: token });
      expect(resent.status).toBe(303);
      const second = await verifyPathFor(t.db, friend.email);
      expect(second).not.toBe(first);
      expect(await mailsTo(t, friend.email)).toContain('verify_email');
      expect((await t.request().get(first)).status).toBe(400);
      expect((await t.request().get(second)).status).toBe(303);
      expect((await referralOf(t, friend.email)).status).toBe('credited');
    } finally {
      t.clock.advance(-(72 * 60 * 60 * 1000 + 1));
    }
  });

  it('answers 400 with a way forward for malformed and unknown tokens', async () => {
    for (const token of ['x', 'A'.repeat(43), '%00', 'a'.repeat(3000), '..%2F..%2Fetc']) {
      const res = await t.request().get(`/auth/verify/${token}`);
      expect(res.status).toBe(400);
      expect(res.text).toContain('This link no longer works');
    }
  });

  it('tells a confirmed person there is nothing to resend, and refuses resend without login or CSRF', async () => {
    const referrer = await newReferrer();
    const token = await csrfFor(referrer.agent, '/dashboard');
    const res = await referrer.agent.post('/auth/verify/resend').type('form').send({ _csrf: token });
    expect(res.status).toBe(303);
    expect(await mailsTo(t, referrer.email)).not.toContain('verify_email');
    expect((await t.request().post('/auth/verify/resend').type('form').send({})).status).toBe(403);
    expect((await referrer.agent.post('/auth/verify/resend').type('form').send({ _csrf: 'forged' })).status).toBe(403);
  });

  it('sends an unconfirmed address nothing but confirmation and reset emails', async () => {
    const referrer = await newReferrer(t, { confirmed: false });
    const friend = await friendOf(referrer.code);
    await confirmEmail(friend.agent, t.db, friend.email);
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    const agent = t.request();
    const csrf = await csrfFor(agent, '/auth/forgot');
    expect((await agent.post('/auth/forgot').type('form').send({ email: referrer.email, _csrf: csrf })).status).toBe(303);
    expect((await mailsTo(t, referrer.email)).sort()).toEqual(['password_reset', 'welcome']);

    await confirmEmail(referrer.agent, t.db, referrer.email);
    const second = await friendOf(referrer.code);
    await confirmEmail(second.agent, t.db, second.email);
    expect(await mailsTo(t, referrer.email)).toContain('referral_joined');
  });

  it('credits a code applied after sign-up when the person confirms, or at once if they already have', async () => {
    const referrer = await newReferrer();
    const late = browser();
    const lateEmail = uniqueEmail('late');
    await signup(late, { email: lateEmail });
    const token = await csrfFor(late, '/dashboard');
    const applied = await late.post('/referral/process_referral').type('form').send({ referral_code: referrer.code, _csrf: token });
    expect(applied.status).toBe(303);
    expect(await referralOf(t, lateEmail)).toMatchObject({ status: 'pending', source: 'applied' });
    await confirmEmail(late, t.db, lateEmail);
    expect((await referralOf(t, lateEmail)).status).toBe('credited');

    const confirmed = browser();
    const confirmedEmail = uniqueEmail('confirmed');
    await signup(confirmed, { email: confirmedEmail });
    await confirmEmail(confirmed, t.db, confirmedEmail);
    const res = await confirmed
      .post('/referral/process_referral')
      .set('x-csrf-token', await csrfFor(confirmed, '/dashboard'))
      .send({ referral_code: referrer.code });
    expect(res.status).toBe(200);
    expect((await referralOf(t, confirmedEmail)).status).toBe('credited');
    expect((await userOf(t, referrer.email)).referralsCount).toBe(2);
  });
});

describe('the fraud screen', () => {
  /** Signs a friend up and confirms them; returns the settled referral. */
  async function settled(code: string, options: Parameters<typeof friendOf>[1] = {}) {
    const friend = await friendOf(code, options);
    await confirmEmail(t.request(), t.db, friend.email);
    return await referralOf(t, friend.email);
  }

  it('credits ordinary friends on their own networks and browsers, with their own addresses', async () => {
    const referrer = await newReferrer();
    for (const email of ['ana@example.org', 'bo.smith@gmail.com', 'chen+news@example.net', 'dee@company.example']) {
      const referral = await settled(referrer.code, { email: email.replace('@', `.${network}@`) });
      expect(referral).toMatchObject({ status: 'credited', fraudReasons: '' });
    }
    expect((await userOf(t, referrer.email)).referralsCount).toBe(4);
  });

  it('holds an alias of the referrer’s own address (+tags on any domain, dots on Gmail)', async () => {
    const n = network;
    const plus = await newReferrer(t, { email: `me${n}@alias.example` });
    expect(await settled(plus.code, { email: `me${n}+1@alias.example` })).toMatchObject({ status: 'held', fraudReasons: 'email_alias' });
    const gmail = await newReferrer(t, { email: `rita.r${n}@gmail.com` });
    expect(await settled(gmail.code, { email: `ritar${n}+x@googlemail.com` })).toMatchObject({ status: 'held', fraudReasons: 'email_alias' });
    expect((await userOf(t, plus.email)).referralsCount).toBe(0);
  });

  it('holds an alias of another referred person’s address, but credits the first', async () => {
    const referrer = await newReferrer();
    const base = `farm${network}`;
    expect((await settled(referrer.code, { email: `${base}+1@farm.example` })).status).toBe('credited');
    expect(await settled(referrer.code, { email: `${base}+2@farm.example` })).toMatchObject({ status: 'held', fraudReasons: 'email_alias' });
  });

  it('holds a disposable address and not a lookalike of one', async () => {
    const referrer = await newReferrer();
    expect(await settled(referrer.code, { email: `x${network}@mailinator.com` })).toMatchObject({ status: 'held', fraudReasons: 'disposable_email' });
    expect(await settled(referrer.code, { email: `x${network}@mailinator-fan.example` })).toMatchObject({ status: 'credited' });
  });

  it('holds a friend on the network the referrer signed up from (another host of the /24)', async () => {
    const referrer = await newReferrer(t, { ip: '192.0.2.10' });
    expect(await settled(referrer.code, { agent: browser(t, '192.0.2.200') })).toMatchObject({ status: 'held', fraudReasons: 'same_network' });
    expect(await settled(referrer.code, { agent: browser(t, '192.0.3.200') })).toMatchObject({ status: 'credited' });
  });

  it('holds a friend on a network the referrer logged in from, and treats an IPv6 /64 as one network', async () => {
    const referrer = await newReferrer(t, { ip: '2001:db8:aaaa:1::1' });
    const elsewhere = browser(t, '198.18.7.1');
    expect((await login(elsewhere, referrer.email)).status).toBe(303);
    expect(await settled(referrer.code, { agent: browser(t, '198.18.7.99') })).toMatchObject({ status: 'held', fraudReasons: 'same_network' });
    expect(await settled(referrer.code, { agent: browser(t, '2001:db8:aaaa:1:ffff::2') })).toMatchObject({ status: 'held', fraudReasons: 'same_network' });
    expect(await settled(referrer.code, { agent: browser(t, '2001:db8:aaaa:2::1') })).toMatchObject({ status: 'credited' });
  });

  it('holds a friend who signs up in the referrer’s browser, from any network', async () => {
    const referrer = await newReferrer();
    const token = await csrfFor(referrer.agent, '/dashboard');
    expect((await referrer.agent.post('/auth/logout').type('form').send({ _csrf: token })).status).toBe(303);
    referrer.agent.set('X-Forwarded-For', freshIp());
    expect(await settled(referrer.code, { agent: referrer.agent })).toMatchObject({ status: 'held', fraudReasons: 'same_device' });
  });

  it('holds referrals beyond FRAUD_VELOCITY from one network within an hour, counted by when they were made', async () => {
    const referrer = await newReferrer();
    const cafe = freshIp().replace(/\.10$/, '');
    const made = [];
    for (let i = 1; i <= 6; i++) made.push(await friendOf(referrer.code, { agent: browser(t, `${cafe}.${i + 20}`) }));
    for (const friend of made) await confirmEmail(t.request(), t.db, friend.email);
    expect((await Promise.all(made.map((f) => referralOf(t, f.email)))).map((r) => r.status)).toEqual([
      'credited',
      'credited',
      'credited',
      'credited',
      'credited',
      'held',
    ]);
    expect((await referralOf(t, made[5]!.email)).fraudReasons).toBe('velocity');

    t.clock.advance(61 * 60 * 1000);
    const later = await friendOf(referrer.code, { agent: browser(t, `${cafe}.99`) });
    await confirmEmail(t.request(), t.db, later.email);
    expect((await referralOf(t, later.email)).status).toBe('credited');
  });

  it('records several signals at once and shows the referrer only "under review"', async () => {
    const n = network;
    const referrer = await newReferrer(t, { email: `multi${n}@alias.example`, ip: '203.0.113.5' });
    const friend = await friendOf(referrer.code, { agent: browser(t, '203.0.113.6'), email: `multi${n}+x@alias.example` });
    await confirmEmail(friend.agent, t.db, friend.email);
    expect(await referralOf(t, friend.email)).toMatchObject({ status: 'held', fraudReasons: 'email_alias,same_network' });
    const dash = await referrer.agent.get('/dashboard');
    expect(dash.text).toContain('1 under review');
    expect(dash.text).not.toMatch(/email_alias|same_network/);
    const friendDash = await friend.agent.get('/dashboard');
    expect(friendDash.text).not.toMatch(/under review|email_alias|same_network/);
  });

  it('stores networks, devices and addresses only as keyed hashes', async () => {
    const referrer = await newReferrer(t, { ip: '198.51.100.77' });
    const friend = await settled(referrer.code, { agent: browser(t, '198.51.200.77') });
    const dump = JSON.stringify([friend, await t.db.select().from(referrals)]);
    expect(dump).not.toMatch(/198\.51\.(100|200)/);
    expect(friend.networkHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(friend.deviceHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('sets the device cookie with the session on form pages only', async () => {
    const form = await t.request().get('/auth/signup');
    const line = setCookieLine(form, 'did');
    expect(line).toMatch(/^did=[A-Za-z0-9_-]{22};/);
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/Max-Age=31536000/);
    for (const page of ['/', '/referral/leaderboard', '/api/leaderboard', '/healthz']) {
      expect(setCookieLine(await t.request().get(page), 'did')).toBeUndefined();
    }
  });

  it('credits everything without screening when FRAUD_SCREEN=off', async () => {
    const off = makeTestApp({ CREDIT_ON: 'verified', FRAUD_SCREEN: 'off', TRUST_PROXY: '1' });
    apps.push(off);
    const referrer = await newReferrer(off, { email: 'same@off.example', ip: '192.0.2.1' });
    const friend = await friendOf(referrer.code, { app: off, agent: browser(off, '192.0.2.2'), email: 'same+1@off.example' });
    await confirmEmail(friend.agent, off.db, friend.email);
    expect(await referralOf(off, friend.email)).toMatchObject({ status: 'credited', fraudReasons: '' });
  });
});

describe('CREDIT_ON=signup', () => {
  it('screens at sign-up: a clean friend counts at once, an alias is held at once', async () => {
    const app = makeTestApp({ CREDIT_ON: 'signup', FRAUD_SCREEN: 'on', TRUST_PROXY: '1' });
    apps.push(app);
    const referrer = await newReferrer(app, { email: 'owner@signup.example', confirmed: false });
    const clean = await friendOf(referrer.code, { app, agent: browser(app) });
    expect((await referralOf(app, clean.email)).status).toBe('credited');
    const alias = await friendOf(referrer.code, { app, agent: browser(app), email: 'owner+2@signup.example' });
    expect(await referralOf(app, alias.email)).toMatchObject({ status: 'held', fraudReasons: 'email_alias' });
    expect((await userOf(app, referrer.email)).referralsCount).toBe(1);
  });
});

describe('the admin review queue', () => {
  let admin: ReturnType<typeof browser>;
  let adminToken: string;
  const held = async () => {
    const n = network;
    const referrer = await newReferrer(t, { email: `held${n}@alias.example` });
    const friend = await friendOf(referrer.code, { email: `held${n}+dup@alias.example` });
    await confirmEmail(friend.agent, t.db, friend.email);
    const referral = await referralOf(t, friend.email);
    expect(referral.status).toBe('held');
    return { referrer, friend, referral };
  };
  const audits = async (id: number) =>
    (
      await t.db
        .select({ action: auditLog.action })
        .from(auditLog)
        .where(and(eq(auditLog.targetType, 'referral'), eq(auditLog.targetId, id)))
    ).map((a) => a.action);

  it('lists held referrals with their reasons and short hashes, for admins only', async () => {
    admin = browser();
    expect((await signup(admin, { email: ADMIN, name: 'Review Boss' })).status).toBe(303);
    adminToken = await csrfFor(admin, '/dashboard');
    const { friend, referral } = await held();
    const page = await admin.get('/admin/review');
    expect(page.status).toBe(200);
    expect(page.text).toContain(friend.email);
    expect(page.text).toContain('data-reason="email_alias"');
    expect(page.text).toContain(`<code>${referral.networkHash!.slice(0, 8)}</code>`);
    expect(page.text).not.toContain(referral.networkHash!);
    expect((await admin.get('/admin')).text).toMatch(/data-stat="held">[1-9]/);

    const plain = browser();
    await signup(plain);
    expect((await plain.get('/admin/review')).status).toBe(403);
    expect((await t.request().get('/admin/review')).status).toBe(302);
  });

  it('approves exactly once: count, rank and notice move once, a second click answers 409', async () => {
    const { referrer, referral } = await held();
    const first = await admin.post(`/admin/referrals/${referral.id}/approve`).type('form').send({ _csrf: adminToken });
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/admin/review');
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    expect((await referralById(referral.id)).status).toBe('credited');
    const second = await admin.post(`/admin/referrals/${referral.id}/approve`).type('form').send({ _csrf: adminToken });
    expect(second.status).toBe(409);
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    expect((await mailsTo(t, referrer.email)).filter((k) => k === 'referral_joined')).toHaveLength(1);
    expect(await audits(referral.id)).toEqual(['referral.approve']);
  });

  it('credits once when five approvals of one referral arrive at the same moment', async () => {
    const { referrer, referral } = await held();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => admin.post(`/admin/referrals/${referral.id}/approve`).type('form').send({ _csrf: adminToken })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([303, 409, 409, 409, 409]);
    expect((await userOf(t, referrer.email)).referralsCount).toBe(1);
    expect(await audits(referral.id)).toEqual(['referral.approve']);
  });

  it('rejects without changing any count, and a rejected referral cannot be approved', async () => {
    const { referrer, referral } = await held();
    expect((await admin.post(`/admin/referrals/${referral.id}/reject`).type('form').send({ _csrf: adminToken })).status).toBe(303);
    expect(await referralById(referral.id)).toMatchObject({ status: 'rejected' });
    expect((await userOf(t, referrer.email)).referralsCount).toBe(0);
    expect((await admin.post(`/admin/referrals/${referral.id}/approve`).type('form').send({ _csrf: adminToken })).status).toBe(409);
    expect(await audits(referral.id)).toEqual(['referral.reject']);
  });

  it('approves or rejects many at once, skipping ones already decided', async () => {
    const a = await held();
    const b = await held();
    const c = await held();
    await admin.post(`/admin/referrals/${c.referral.id}/reject`).type('form').send({ _csrf: adminToken });
    const res = await admin
      .post('/admin/review')
      .type('form')
      .send(`_csrf=${encodeURIComponent(adminToken)}&action=approve&ids=${a.referral.id}&ids=${b.referral.id}&ids=${c.referral.id}&ids=${a.referral.id}`);
    expect(res.status).toBe(303);
    const page = await admin.get('/admin/review');
    expect(page.text).toContain('2 referrals approved and credited. 1 skipped');
    expect((await userOf(t, a.referrer.email)).referralsCount).toBe(1);
    expect((await userOf(t, b.referrer.email)).referralsCount).toBe(1);
    expect((await userOf(t, c.referrer.email)).referralsCount).toBe(0);
  });

  it('answers 400 to a malformed bulk form and 403 without CSRF, changing nothing', async () => {
    const { referral } = await held();
    const bad = [
      `action=approve`,
      `action=approve&ids=`,
      `action=launch&ids=${referral.id}`,
      `action=approve&ids=abc`,
      `action=approve&ids=-1`,
      `action=approve&ids[]=${referral.id}`,
      `action=approve&${Array.from({ length: 101 }, (_, i) => `ids=${i + 1}`).join('&')}`,
    ];
    for (const body of bad) {
      const res = await admin
        .post('/admin/review')
        .type('form')
        .send(`_csrf=${encodeURIComponent(adminToken)}&${body}`);
      expect(res.status, body).toBe(400);
    }
    const tooMany = Array.from({ length: 300 }, (_, i) => `ids=${i + 1}`).join('&');
    expect(
      (
        await admin
          .post('/admin/review')
          .type('form')
          .send(`_csrf=${encodeURIComponent(adminToken)}&action=approve&${tooMany}`)
      ).status,
    ).toBe(413);
    expect((await admin.post('/admin/review').type('form').send(`action=approve&ids=${referral.id}`)).status).toBe(403);
    expect((await admin.post(`/admin/referrals/${referral.id}/approve`).type('form').send({})).status).toBe(403);
    expect((await admin.post('/admin/referrals/99999999/approve').type('form').send({ _csrf: adminToken })).status).toBe(404);
    expect((await admin.post('/admin/referrals/abc/approve').type('form').send({ _csrf: adminToken })).status).toBe(404);
    expect((await referralById(referral.id)).status).toBe('held');
  });

  it('cannot revoke a referral that was never credited', async () => {
    const { referral } = await held();
    expect((await admin.post(`/admin/referrals/${referral.id}/revoke`).type('form').send({ _csrf: adminToken })).status).toBe(409);
  });
});
