import { and, eq } from 'drizzle-orm';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, friendRewards, referrals } from '../src/db/schema.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { insertUser, run, userByEmail } from './helpers/db.js';
import { csrfFor, csrfFrom, signup, uniqueEmail } from './helpers/forms.js';
import { confirmEmail } from './helpers/mailbox.js';

type Agent = supertest.Agent;

const ADMIN = 'friend-boss@example.com';
const apps: TestApp[] = [];
let t: TestApp;
let admin: Agent;
let adminToken: string;

/** A fresh app (own database) with ADMIN as its admin, closed after the file. */
function fresh(env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const made = makeTestApp({ ADMIN_EMAILS: ADMIN, ...env });
  apps.push(made);
  return made;
}

/** Signs the admin up on an app; returns their browser and a CSRF token of their session. */
async function adminOf(app: TestApp, agent = app.request()): Promise<{ agent: Agent; token: string }> {
  expect((await signup(agent, { email: ADMIN, name: 'Fran Boss' })).status).toBe(303);
  return { agent, token: await csrfFor(agent, '/dashboard') };
}

beforeAll(async () => {
  // Credited at sign-up, no fraud screen (see test/helpers/app.ts): each friend counts at once.
  t = fresh();
  ({ agent: admin, token: adminToken } = await adminOf(t));
});
afterAll(() => Promise.all(apps.map((a) => a.close())));

/** Saves the program's friend offer through the admin's settings form. */
async function setOffer(offer: string, agent = admin) {
  const _csrf = await csrfFor(agent, '/admin/settings');
  const res = await agent
    .post('/admin/settings')
    .type('form')
    .send({ program_name: 'Acme Rewards', tagline: '', friend_offer: offer, support_email: '', _csrf });
  expect(res.status, res.text).toBe(303);
}

async function newReferrer(app = t, name = 'Rhea Referrer') {
  const agent = app.request();
  const email = uniqueEmail('referrer');
  expect((await signup(agent, { email, name })).status).toBe(303);
  const user = (await userByEmail(app.db, email))!;
  return { agent, email, id: user.id, code: user.referralCode };
}

async function newFriend(code: string, app = t, name = 'Fern Friend', agent = app.request()) {
  const email = uniqueEmail('friend');
  expect((await signup(agent, { email, name, referral_code: code })).status).toBe(303);
  const user = (await userByEmail(app.db, email))!;
  const [referral] = await app.db.select().from(referrals).where(eq(referrals.referredUserId, user.id));
  return { agent, email, id: user.id, referral: referral! };
}

const friendRewardsOf = (userId: number, app = t) => app.db.select().from(friendRewards).where(eq(friendRewards.userId, userId));

async function friendRewardOf(userId: number, app = t) {
  const [row] = await friendRewardsOf(userId, app);
  if (!row) throw new Error(`no friend reward for user ${userId}`);
  return row;
}

const fulfilAudits = (id: number, app = t) =>
  app.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, 'friend_reward.fulfill'), eq(auditLog.targetType, 'friend_reward'), eq(auditLog.targetId, id)));

const fulfil = (id: number | string, body: Record<string, string> = { _csrf: adminToken }, agent = admin) =>
  agent.post(`/admin/friend-rewards/${id}/fulfill`).type('form').send(body);

/** The friend-offer paragraph of a dashboard, or undefined when there is none. */
const offerLine = (html: string) => /<p class="friend-offer" data-friend-offer>[\s\S]*?<\/p>/.exec(html)?.[0];

describe('awarding the friend reward', () => {
  it('awards the referred friend the offer as it read at the credit, and keeps that text when the setting changes', async () => {
    await setOffer('Two free coffees');
    const referrer = await newReferrer();
    t.clock.advance(60_000);
    const friend = await newFriend(referrer.code);
    expect(friend.referral.status).toBe('credited');
    expect(await friendRewardsOf(friend.id)).toEqual([
      {
        id: expect.any(Number) as number,
        userId: friend.id,
        referralId: friend.referral.id,
        offer: 'Two free coffees',
        status: 'awarded',
        awardedAt: t.clock.now(),
        fulfilledAt: null,
      },
    ]);
    // The referrer gets tiers, not a friend reward: nobody referred them.
    expect(await friendRewardsOf(referrer.id)).toEqual([]);

    await setOffer('A free month');
    expect((await friendRewardOf(friend.id)).offer).toBe('Two free coffees');
    const line = offerLine((await friend.agent.get('/dashboard')).text);
    expect(line).toContain('<strong>Two free coffees</strong>');
    expect(line).not.toContain('A free month');

    const later = await newFriend(referrer.code);
    expect((await friendRewardOf(later.id)).offer).toBe('A free month');
  });

  it('awards nothing when the offer is empty, and nothing later when an offer is set', async () => {
    await setOffer('');
    const referrer = await newReferrer();
    const friend = await newFriend(referrer.code);
    expect(friend.referral.status).toBe('credited');
    expect(await friendRewardsOf(friend.id)).toEqual([]);
    expect((await friend.agent.get('/dashboard')).text).not.toContain('data-friend-offer');
    await setOffer('Two free coffees');
    expect(await friendRewardsOf(friend.id)).toEqual([]);
  });

  it('awards nothing while the referral is not credited, then on confirmation or on an admin approval', async () => {
    // The real defaults: credited when the friend confirms, fraud screen on. Each browser
    // gets its own network through X-Forwarded-For, unless it shares the referrer's.
    const app = fresh({ CREDIT_ON: 'verified', FRAUD_SCREEN: 'on', TRUST_PROXY: '1' });
    const boss = await adminOf(app, app.request().set('X-Forwarded-For', '100.64.1.10'));
    await setOffer('A welcome gift', boss.agent);
    const referrerAgent = app.request().set('X-Forwarded-For', '100.64.2.10');
    const referrerEmail = uniqueEmail('referrer');
    await signup(referrerAgent, { email: referrerEmail, name: 'Vera Verified' });
    await confirmEmail(referrerAgent, app.db, referrerEmail);
    const code = (await userByEmail(app.db, referrerEmail))!.referralCode;

    const clean = await newFriend(code, app, 'Clean Carl', app.request().set('X-Forwarded-For', '100.64.3.10'));
    expect(clean.referral.status).toBe('pending');
    expect(await friendRewardsOf(clean.id, app)).toEqual([]);
    await confirmEmail(clean.agent, app.db, clean.email);
    expect(await friendRewardsOf(clean.id, app)).toMatchObject([{ status: 'awarded', offer: 'A welcome gift', referralId: clean.referral.id }]);

    // From the referrer's own network: held for review, no award until an admin approves.
    const suspect = await newFriend(code, app, 'Held Hal', app.request().set('X-Forwarded-For', '100.64.2.10'));
    await confirmEmail(suspect.agent, app.db, suspect.email);
    const [held] = await app.db.select().from(referrals).where(eq(referrals.id, suspect.referral.id));
    expect(held!.status).toBe('held');
    expect(await friendRewardsOf(suspect.id, app)).toEqual([]);
    const approved = await boss.agent.post(`/admin/referrals/${suspect.referral.id}/approve`).type('form').send({ _csrf: boss.token });
    expect(approved.status).toBe(303);
    expect(await friendRewardsOf(suspect.id, app)).toMatchObject([{ status: 'awarded', offer: 'A welcome gift' }]);
  });
});

describe('revocation', () => {
  it('withdraws an awarded friend reward with the credit, and awards it again when the referral is approved again', async () => {
    await setOffer('Two free coffees');
    const referrer = await newReferrer();
    const friend = await newFriend(referrer.code);
    expect((await friendRewardOf(friend.id)).status).toBe('awarded');

    const revoked = await admin.post(`/admin/referrals/${friend.referral.id}/revoke`).type('form').send({ _csrf: adminToken });
    expect(revoked.status).toBe(303);
    const withdrawn = await friendRewardOf(friend.id);
    expect(withdrawn.status).toBe('withdrawn');
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'referral.revoke'), eq(auditLog.targetId, friend.referral.id)));
    expect(JSON.parse(audit!.details)).toMatchObject({ friendRewardWithdrawn: true });
    expect((await friend.agent.get('/dashboard')).text).not.toContain('data-friend-offer');
    // Nothing left to hand out.
    expect((await fulfil(withdrawn.id)).status).toBe(409);

    // No route takes a revoked referral back to review today; a correction in the
    // database (or a future re-review) does, and the approval must then award again.
    await run(t.db, "update referrals set status = 'held' where id = ?", friend.referral.id);
    await setOffer('A free month');
    t.clock.advance(3_600_000);
    const approved = await admin.post(`/admin/referrals/${friend.referral.id}/approve`).type('form').send({ _csrf: adminToken });
    expect(approved.status).toBe(303);
    expect(await friendRewardsOf(friend.id)).toEqual([{ ...withdrawn, status: 'awarded', offer: 'A free month', awardedAt: t.clock.now(), fulfilledAt: null }]);
    expect(offerLine((await friend.agent.get('/dashboard')).text)).toContain('Your reward is on its way.');
  });

  it('keeps a fulfilled friend reward fulfilled when the referral is revoked', async () => {
    await setOffer('Two free coffees');
    const referrer = await newReferrer();
    const friend = await newFriend(referrer.code);
    const reward = await friendRewardOf(friend.id);
    expect((await fulfil(reward.id)).status).toBe(303);
    const fulfilled = await friendRewardOf(friend.id);
    expect((await admin.post(`/admin/referrals/${friend.referral.id}/revoke`).type('form').send({ _csrf: adminToken })).status).toBe(303);
    expect(await friendRewardOf(friend.id)).toEqual(fulfilled);
    expect(fulfilled.status).toBe('fulfilled');
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'referral.revoke'), eq(auditLog.targetId, friend.referral.id)));
    expect(JSON.parse(audit!.details)).toMatchObject({ friendRewardWithdrawn: false });

    // Credited again (see above for how): the handed-out reward is not awarded a second time.
    await run(t.db, "update referrals set status = 'held' where id = ?", friend.referral.id);
    t.clock.advance(60_000);
    expect((await admin.post(`/admin/referrals/${friend.referral.id}/approve`).type('form').send({ _csrf: adminToken })).status).toBe(303);
    expect(await friendRewardsOf(friend.id)).toEqual([fulfilled]);
  });
});

describe('the admin marks a friend reward fulfilled', () => {
  it('lists it on the rewards page and fulfils it once, with one audit row, from the form on that page', async () => {
    await setOffer('Two free coffees');
    const referrer = await newReferrer();
    const friend = await newFriend(referrer.code, t, 'Fiona Fulfilled');
    const reward = await friendRewardOf(friend.id);

    const page = await admin.get('/admin/rewards');
    expect(page.status).toBe(200);
    const row = new RegExp(`<tr data-friend-reward="${reward.id}">[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
    expect(row).toContain(`<a href="/admin/users/${friend.id}">Fiona Fulfilled</a>`);
    expect(row).toContain(friend.email);
    expect(row).toContain('Two free coffees');
    expect(row).toContain(`action="/admin/friend-rewards/${reward.id}/fulfill"`);
    const returnTo = /name="return_to" value="([^"]+)"/.exec(row)?.[1]?.replace(/&amp;/g, '&');
    expect(returnTo).toBe('/admin/rewards?friend_status=awarded');

    t.clock.advance(86_400_000);
    const done = await fulfil(reward.id, { _csrf: csrfFrom(row), return_to: returnTo! });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe('/admin/rewards?friend_status=awarded');
    const next = await admin.get(done.headers.location!);
    expect(next.text).toContain('Friend reward marked as fulfilled.');
    expect(next.text).not.toContain(`data-friend-reward="${reward.id}"`);
    const fulfilledAt = t.clock.now();
    expect(await friendRewardOf(friend.id)).toMatchObject({ status: 'fulfilled', fulfilledAt });
    const me = (await userByEmail(t.db, ADMIN))!;
    expect(await fulfilAudits(reward.id)).toMatchObject([{ actorId: me.id, details: JSON.stringify({ userId: friend.id }) }]);
    expect((await admin.get('/admin/rewards?friend_status=fulfilled')).text).toContain(`<tr data-friend-reward="${reward.id}">`);

    // A second click: nothing changes, nothing more is audited.
    t.clock.advance(60_000);
    const again = await fulfil(reward.id);
    expect(again.status).toBe(409);
    expect(again.text).toContain('This friend reward is not waiting to be fulfilled.');
    expect(await friendRewardOf(friend.id)).toMatchObject({ status: 'fulfilled', fulfilledAt });
    expect(await fulfilAudits(reward.id)).toHaveLength(1);
  });

  it('goes back to the friend’s admin page when the form names no page', async () => {
    await setOffer('Two free coffees');
    const friend = await newFriend((await newReferrer()).code);
    const reward = await friendRewardOf(friend.id);
    const user = await admin.get(`/admin/users/${friend.id}`);
    expect(user.text).toContain(`action="/admin/friend-rewards/${reward.id}/fulfill"`);
    const done = await fulfil(reward.id, { _csrf: adminToken, return_to: 'https://evil.example/admin' });
    expect(done.headers.location).toBe(`/admin/users/${friend.id}`);
    const after = await admin.get(`/admin/users/${friend.id}`);
    expect(after.text).toContain('Friend reward marked as fulfilled.');
    expect(after.text).toMatch(new RegExp(`<dl data-friend-reward="fulfilled">[\\s\\S]*fulfilled ${t.clock.now().toISOString().slice(0, 10)}`));
    expect(after.text).not.toContain(`action="/admin/friend-rewards/${reward.id}/fulfill"`);
  });

  it('answers 404 for an unknown or malformed id and changes nothing', async () => {
    const before = await t.db.select().from(auditLog);
    for (const id of ['99999999', 'abc', '0', '-1', '1.5', '1e3']) {
      const res = await fulfil(id);
      expect(res.status, id).toBe(404);
    }
    expect(await t.db.select().from(auditLog)).toEqual(before);
  });

  it('answers 403 without a CSRF token, with a wrong one, to a non-admin, and 401 to someone logged out', async () => {
    await setOffer('Two free coffees');
    const friend = await newFriend((await newReferrer()).code);
    const reward = await friendRewardOf(friend.id);
    expect((await fulfil(reward.id, {})).status).toBe(403);
    expect((await fulfil(reward.id, { _csrf: 'not-the-token' })).status).toBe(403);
    // The friend themself, with a valid token of their own session.
    const friendToken = await csrfFor(friend.agent, '/dashboard');
    expect((await fulfil(reward.id, { _csrf: friendToken }, friend.agent)).status).toBe(403);
    // Someone logged out, with the valid token of the sign-up form they just opened.
    const anonymous = t.request();
    const anonymousToken = await csrfFor(anonymous, '/auth/signup');
    const refused = await anonymous.post(`/admin/friend-rewards/${reward.id}/fulfill`).type('form').send({ _csrf: anonymousToken });
    expect(refused.status).toBe(401);
    expect(await friendRewardOf(friend.id)).toMatchObject({ status: 'awarded', fulfilledAt: null });
    expect(await fulfilAudits(reward.id)).toEqual([]);
  });

  it('fulfils once when ten clicks arrive at the same moment', async () => {
    await setOffer('Two free coffees');
    const friend = await newFriend((await newReferrer()).code);
    const reward = await friendRewardOf(friend.id);
    const results = await Promise.all(Array.from({ length: 10 }, () => fulfil(reward.id)));
    expect(results.map((r) => r.status).sort()).toEqual([303, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    expect(await fulfilAudits(reward.id)).toHaveLength(1);
    expect((await friendRewardOf(friend.id)).status).toBe('fulfilled');
  });
});

describe('the admin friend-reward list', () => {
  it('pages one status at a time, newest award first, ties by id, without gaps or repeats', async () => {
    const app = fresh();
    const boss = await adminOf(app);
    const referrer = await insertUser(app.db, { name: 'List Referrer' });
    const base = new Date('2026-01-10T00:00:00Z').getTime();
    const made: { id: number; status: 'awarded' | 'fulfilled' | 'withdrawn'; awardedAt: Date }[] = [];
    for (let i = 0; i < 33; i++) {
      const friend = await insertUser(app.db, { name: `Listed Friend ${i}`, referredById: referrer.id });
      const [referral] = await app.db
        .insert(referrals)
        .values({
          referrerId: referrer.id,
          referredUserId: friend.id,
          referredEmail: friend.email,
          source: 'signup',
          status: 'credited',
          createdAt: new Date(base),
          creditedAt: new Date(base),
        })
        .returning();
      const status = i === 5 || i === 17 ? 'fulfilled' : i === 9 ? 'withdrawn' : 'awarded';
      // Four rows a minute: equal award times are ordered by id, and the first page ends
      // inside such a group, so the cursor must break the tie.
      const awardedAt = new Date(base + Math.floor(i / 4) * 60_000);
      const [row] = await app.db
        .insert(friendRewards)
        .values({ userId: friend.id, referralId: referral!.id, offer: `Offer ${i}`, status, awardedAt, fulfilledAt: status === 'fulfilled' ? awardedAt : null })
        .returning();
      made.push({ id: row!.id, status, awardedAt });
    }
    const newestFirst = (status: string) =>
      made
        .filter((r) => r.status === status)
        .sort((a, b) => b.awardedAt.getTime() - a.awardedAt.getTime() || b.id - a.id)
        .map((r) => r.id);
    const idsOn = (html: string) => [...html.matchAll(/<tr data-friend-reward="(\d+)">/g)].map((m) => Number(m[1]));

    const seen: number[] = [];
    let path: string | undefined = '/admin/rewards';
    let pagesRead = 0;
    while (path) {
      const res = await boss.agent.get(path);
      expect(res.status).toBe(200);
      seen.push(...idsOn(res.text));
      pagesRead += 1;
      path = /<a href="([^"]+)" rel="next">Older<\/a>/.exec(res.text)?.[1]?.replace(/&amp;/g, '&');
      if (pagesRead > 1) expect(res.text).toContain('rel="first">Newest</a>');
    }
    expect(pagesRead).toBe(2);
    expect(seen).toEqual(newestFirst('awarded'));

    expect(idsOn((await boss.agent.get('/admin/rewards?friend_status=fulfilled')).text)).toEqual(newestFirst('fulfilled'));
    const withdrawn = await boss.agent.get('/admin/rewards?friend_status=withdrawn');
    expect(idsOn(withdrawn.text)).toEqual(newestFirst('withdrawn'));
    expect(withdrawn.text).not.toContain('action="/admin/friend-rewards/');
  });

  it('answers 400 for an unknown status or a malformed page cursor', async () => {
    for (const query of ['friend_status=lost', 'before=abc', 'before=12.0', 'before=-1.5', 'friend_status=awarded&friend_status=fulfilled']) {
      expect((await admin.get(`/admin/rewards?${query}`)).status, query).toBe(400);
    }
  });
});

describe("the friend's dashboard", () => {
  it('shows the reward on its way, then the date it was handed out', async () => {
    await setOffer('Two free coffees');
    const referrer = await newReferrer(t, 'Dora Dash');
    const friend = await newFriend(referrer.code);
    const awarded = offerLine((await friend.agent.get('/dashboard')).text);
    expect(awarded).toContain('You joined through Dora Dash’s link: <strong>Two free coffees</strong>');
    expect(awarded).toContain('<span data-friend-reward="awarded">Your reward is on its way.</span>');

    t.clock.set(new Date('2026-03-02T09:30:00Z'));
    expect((await fulfil((await friendRewardOf(friend.id)).id)).status).toBe(303);
    const fulfilled = offerLine((await friend.agent.get('/dashboard')).text);
    expect(fulfilled).toContain('<strong>Two free coffees</strong>');
    expect(fulfilled).toContain('<span data-friend-reward="fulfilled">Handed to you on 2026-03-02.</span>');
    expect(fulfilled).not.toContain('on its way');

    // The referrer's own dashboard has no such line.
    expect((await referrer.agent.get('/dashboard')).text).not.toContain('data-friend-offer');
  });
});

describe('escaping', () => {
  it('shows HTML in the offer as text on the dashboard, the rewards page and the user page', async () => {
    const hostile = '<img src=x onerror=alert(1)> & "more"';
    await setOffer(hostile);
    const friend = await newFriend((await newReferrer()).code);
    expect((await friendRewardOf(friend.id)).offer).toBe(hostile);
    const escaped = '&lt;img src=x onerror=alert(1)&gt; &amp; &quot;more&quot;';
    for (const [agent, path] of [
      [friend.agent, '/dashboard'],
      [admin, '/admin/rewards'],
      [admin, `/admin/users/${friend.id}`],
    ] as const) {
      const res = await agent.get(path);
      expect(res.status).toBe(200);
      expect(res.text, path).toContain(escaped);
      expect(res.text, path).not.toContain('<img src=x');
    }
  });
});
