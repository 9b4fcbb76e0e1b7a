import { and, count, desc, eq } from 'drizzle-orm';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appSettings, auditLog, emailOutbox } from '../src/db/schema.js';
import { createMailTemplates } from '../src/modules/mail/mail.templates.js';
import { createNotifications } from '../src/modules/mail/notifications.js';
import { REF_COOKIE } from '../src/modules/referral/referral.constants.js';
import { SETTINGS_REFRESH_MS } from '../src/modules/settings/settings.service.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { userByEmail } from './helpers/db.js';
import { bare, closeSiblings, fieldError, inputValue, setUserStatus, siblingApp } from './helpers/extra.js';
import { confirmEmail } from './helpers/mailbox.js';
import { csrfFor, signup, uniqueEmail } from './helpers/forms.js';

type Agent = supertest.Agent;

const ADMIN = 'settings-boss@example.com';
const apps: TestApp[] = [];
let t: TestApp;
let admin: Agent;
let user: Agent;

/** A fresh app (own database) with ADMIN as its admin, closed after the file. */
function fresh(env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const made = makeTestApp({ ADMIN_EMAILS: ADMIN, ...env });
  apps.push(made);
  return made;
}

beforeAll(async () => {
  t = fresh();
  admin = t.request();
  expect((await signup(admin, { email: ADMIN, name: 'Sam Settings' })).status).toBe(303);
  user = t.request();
  expect((await signup(user, { name: 'Plain User' })).status).toBe(303);
});
afterAll(async () => {
  await closeSiblings();
  await Promise.all(apps.map((a) => a.close()));
});

const FIELDS = {
  program_name: 'Acme Rewards',
  tagline: 'Bring a friend, both win.',
  friend_offer: '20% off your first order',
  support_email: 'help@acme.test',
};
type Fields = Partial<Record<keyof typeof FIELDS, string>>;

/** Posts the settings form (FIELDS, changed by `fields`) as an admin's browser would. */
async function save(fields: Fields, agent = admin) {
  const _csrf = await csrfFor(agent, '/admin/settings');
  return agent
    .post('/admin/settings')
    .type('form')
    .send({ ...FIELDS, ...fields, _csrf });
}

/** Saves and expects it to work. */
async function set(fields: Fields, agent = admin) {
  const res = await save(fields, agent);
  expect(res.status, res.text).toBe(303);
}

const titleOf = (html: string) => /<title>([^<]*)<\/title>/.exec(html)?.[1];
const brandOf = (html: string) => /class="brand"><strong>([^<]*)<\/strong>/.exec(html)?.[1];
const footerOf = (html: string) => /<footer[^>]*>([\s\S]*?)<\/footer>/.exec(html)?.[1] ?? '';

async function settingRows(app: TestApp = t) {
  return app.db.select({ key: appSettings.key, value: appSettings.value }).from(appSettings).orderBy(appSettings.key);
}
async function auditRows(app: TestApp = t) {
  return app.db.select().from(auditLog).where(eq(auditLog.action, 'settings.update')).orderBy(desc(auditLog.id));
}
async function latestMail(app: TestApp, kind: string, to: string) {
  const [row] = await app.db
    .select()
    .from(emailOutbox)
    .where(and(eq(emailOutbox.kind, kind), eq(emailOutbox.toAddress, to)))
    .orderBy(desc(emailOutbox.id))
    .limit(1);
  if (!row) throw new Error(`no ${kind} email to ${to}`);
  return row;
}

const userByEmailOf = async (app: TestApp, email: string) => (await userByEmail(app.db, email))!;

describe('access control', () => {
  it('sends anonymous visitors to the login form', async () => {
    const res = await t.request().get('/admin/settings');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/auth/login?next=${encodeURIComponent('/admin/settings')}`);
  });

  it('answers 403 to a logged-in user, for the page and for a POST with a valid CSRF token', async () => {
    expect((await user.get('/admin/settings')).status).toBe(403);
    const _csrf = await csrfFor(user, '/dashboard');
    const res = await user
      .post('/admin/settings')
      .type('form')
      .send({ ...FIELDS, _csrf });
    expect(res.status).toBe(403);
    expect(await settingRows()).toEqual([]);
    expect(await auditRows()).toEqual([]);
  });

  it('answers 403 to an admin without a CSRF token and saves nothing', async () => {
    const res = await admin.post('/admin/settings').type('form').send(FIELDS);
    expect(res.status).toBe(403);
    expect(await settingRows()).toEqual([]);
  });

  it('shows an admin the form with the defaults, never cached by the browser', async () => {
    const res = await admin.get('/admin/settings');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(inputValue(res.text, 'program_name')).toBe('Referral Program');
    expect(inputValue(res.text, 'tagline')).toBe('');
    expect(inputValue(res.text, 'friend_offer')).toBe('');
    expect(inputValue(res.text, 'support_email')).toBe('');
    expect(titleOf(res.text)).toBe('Settings · Referral Program');
    expect(res.text).toMatch(/href="\/admin\/settings" aria-current="page"/);
  });
});

describe('validation', () => {
  const cases: [string, Fields, keyof typeof FIELDS, RegExp][] = [
    ['an empty program name', { program_name: '  ' }, 'program_name', /Enter the program name/],
    ['a program name over 60 characters', { program_name: 'x'.repeat(61) }, 'program_name', /at most 60 characters/],
    ['a tagline over 200 characters', { tagline: 'y'.repeat(201) }, 'tagline', /at most 200 characters/],
    ['a friend offer over 200 characters', { friend_offer: 'z'.repeat(201) }, 'friend_offer', /at most 200 characters/],
    ['a line break in the friend offer', { friend_offer: 'Free\nmonth' }, 'friend_offer', /control characters/],
    ['a NUL in the program name', { program_name: 'Acme\u0000' }, 'program_name', /control characters/],
    ['a direction override in the tagline', { tagline: 'Win \u202Ebig' }, 'tagline', /invisible formatting/],
    ['a zero-width space in the program name', { program_name: 'Ac\u200Bme' }, 'program_name', /invisible formatting/],
    ['a support email that is not one', { support_email: 'not-an-email' }, 'support_email', /valid email address/],
    ['a header injection in the support email', { support_email: 'help@acme.test\r\nBcc: x@evil.test' }, 'support_email', /control characters/],
  ];

  it.each(cases)('answers 400 for %s, with the message on the field, and saves nothing', async (_label, fields, field, message) => {
    const auditBefore = (await auditRows()).length;
    const res = await save(fields);
    expect(res.status).toBe(400);
    expect(fieldError(res.text, field)).toMatch(message);
    expect(await settingRows()).toEqual([]);
    expect(await auditRows()).toHaveLength(auditBefore);
    expect(titleOf(res.text)).toBe('Settings · Referral Program');
  });

  it('answers 400 for a duplicated field and saves nothing', async () => {
    const _csrf = await csrfFor(admin, '/admin/settings');
    const res = await admin
      .post('/admin/settings')
      .type('form')
      .send(`_csrf=${encodeURIComponent(_csrf)}&program_name=One&program_name=Two&tagline=&friend_offer=&support_email=`);
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'program_name')).toMatch(/must be text/);
    expect(await settingRows()).toEqual([]);
  });

  it('answers 400 when the program name is missing altogether', async () => {
    const _csrf = await csrfFor(admin, '/admin/settings');
    const res = await admin.post('/admin/settings').type('form').send({ _csrf, tagline: 'x' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'program_name')).toMatch(/Enter the program name/);
    expect(await settingRows()).toEqual([]);
  });
});

describe('saving', () => {
  it('saves with 303 and a message, trims and collapses spaces, and audits before and after', async () => {
    const res = await save({ program_name: '  Acme   Rewards ' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/settings');
    const page = await admin.get('/admin/settings');
    expect(page.text).toContain('Settings saved.');
    expect(inputValue(page.text, 'program_name')).toBe('Acme Rewards');
    expect(inputValue(page.text, 'friend_offer')).toBe('20% off your first order');
    expect(await settingRows()).toEqual([
      { key: 'friend_offer', value: '20% off your first order' },
      { key: 'program_name', value: 'Acme Rewards' },
      { key: 'support_email', value: 'help@acme.test' },
      { key: 'tagline', value: 'Bring a friend, both win.' },
    ]);
    const [audit] = await auditRows();
    const adminId = (await userByEmail(t.db, ADMIN))!.id;
    expect(audit).toMatchObject({ actorId: adminId, targetType: 'settings' });
    expect(JSON.parse(audit!.details)).toEqual({
      before: { name: 'Referral Program', tagline: '', friendOffer: '', supportEmail: '' },
      after: { name: 'Acme Rewards', tagline: 'Bring a friend, both win.', friendOffer: '20% off your first order', supportEmail: 'help@acme.test' },
    });

    await set({ tagline: '' });
    const [second] = await auditRows();
    expect(JSON.parse(second!.details)).toMatchObject({ before: { tagline: 'Bring a friend, both win.' }, after: { tagline: '' } });
  });

  it('names the program in every page title, the header and the footer, for visitors and members', async () => {
    await set({ program_name: 'Acme Rewards', support_email: 'help@acme.test', tagline: 'Bring a friend, both win.' });
    const pages: [{ get(path: string): supertest.Test }, string, string | undefined][] = [
      [bare(t), '/', 'Invite friends, climb the leaderboard · Acme Rewards'],
      [bare(t), '/auth/login', 'Log in · Acme Rewards'],
      [bare(t), '/referral/leaderboard', undefined],
      [bare(t), '/no-such-page', undefined],
      [user, '/dashboard', 'Your dashboard · Acme Rewards'],
      [admin, '/admin', 'Admin · Acme Rewards'],
    ];
    for (const [agent, path, title] of pages) {
      const res = await agent.get(path);
      if (title) expect(titleOf(res.text)).toBe(title);
      expect(titleOf(res.text)).toMatch(/ · Acme Rewards$/);
      expect(brandOf(res.text)).toBe('Acme Rewards');
      expect(footerOf(res.text)).toContain('href="mailto:help%40acme.test"');
      expect(res.text).not.toContain('Referral Program');
    }
  });

  it('shows the tagline on the home page, and nothing when it is empty', async () => {
    await set({ tagline: 'Bring a friend, both win.' });
    expect((await bare(t).get('/')).text).toContain('<p class="tagline">Bring a friend, both win.</p>');
    await set({ tagline: '', support_email: '' });
    const home = await bare(t).get('/');
    expect(home.text).not.toContain('class="tagline"');
    expect(footerOf(home.text)).not.toContain('mailto:');
  });

  it('puts the name and the support address in every email, and the offer in the welcome', async () => {
    await set({ program_name: 'Acme Rewards', support_email: 'help@acme.test', friend_offer: 'A free month' });
    const email = uniqueEmail('mailed');
    await signup(t.request(), { email, name: 'Mia Mailed' });
    const welcome = await latestMail(t, 'welcome', email);
    for (const body of [welcome.textBody, welcome.htmlBody]) {
      expect(body).toContain('Welcome to Acme Rewards, Mia Mailed!');
      expect(body).toContain('help@acme.test');
      expect(body).toMatch(/Friends who join through it get: (<strong>)?A free month/);
      expect(body).not.toContain('Referral Program');
      // Nobody invited Mia: no line about what she gets.
      expect(body).not.toContain('You joined through a friend');
    }
    const mia = await userByEmailOf(t, email);
    const friendEmail = uniqueEmail('invited');
    await signup(t.request(), { email: friendEmail, name: 'Finn Invited', referral_code: mia.referralCode });
    const invited = await latestMail(t, 'welcome', friendEmail);
    expect(invited.textBody).toContain('You joined through a friend’s link. What you get once your referral counts: A free month');
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/forgot');
    await agent.post('/auth/forgot').type('form').send({ email, _csrf });
    const reset = await latestMail(t, 'password_reset', email);
    expect(reset.textBody).toMatch(/\n--\nAcme Rewards\n[^\n]*\nQuestions\? Write to help@acme\.test\n$/);
    expect(reset.htmlBody).toContain('Acme Rewards: you get this email');
    expect(reset.htmlBody).toContain('<title>Reset your password · Acme Rewards</title>');
  });
});

describe('hostile values', () => {
  const HOSTILE = { program_name: '<script>alert(1)</script>', tagline: '<img src=x onerror=alert(2)>', friend_offer: '"><b>Free</b> & more' };

  it('shows them escaped on pages', async () => {
    await set(HOSTILE);
    const home = await bare(t).get('/');
    expect(home.text).not.toContain('<script>alert(1)');
    expect(home.text).not.toContain('<img src=x');
    expect(titleOf(home.text)).toBe('Invite friends, climb the leaderboard · &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(brandOf(home.text)).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(home.text).toContain('&lt;img src=x onerror=alert(2)&gt;');
    const settingsPage = await admin.get('/admin/settings');
    expect(settingsPage.text).not.toContain('"><b>Free</b>');
    expect(inputValue(settingsPage.text, 'friend_offer')).toBe(HOSTILE.friend_offer);

    const referrer = t.request();
    const email = uniqueEmail('hostile-ref');
    await signup(referrer, { email, name: '<i>Eve</i> Evil' });
    const code = (await userByEmail(t.db, email))!.referralCode;
    const invite = await bare(t).get(`/auth/signup?ref=${code}`);
    expect(invite.text).toContain('&lt;i&gt;Eve&lt;/i&gt; Evil</strong> invited you');
    expect(invite.text).toContain('&quot;&gt;&lt;b&gt;Free&lt;/b&gt; &amp; more');
    expect(invite.text).not.toContain('<b>Free</b>');
    expect(invite.text).not.toContain('<i>Eve</i>');
  });

  it('shows them escaped in HTML email and as they are in plain text', async () => {
    await set(HOSTILE);
    const email = uniqueEmail('hostile-mail');
    await signup(t.request(), { email });
    const welcome = await latestMail(t, 'welcome', email);
    expect(welcome.htmlBody).not.toContain('<script>alert(1)');
    expect(welcome.htmlBody).not.toContain('<b>Free</b>');
    expect(welcome.htmlBody).toContain('Welcome to &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(welcome.htmlBody).toContain('&quot;&gt;&lt;b&gt;Free&lt;/b&gt; &amp; more');
    expect(welcome.textBody).toContain('Welcome to <script>alert(1)</script>');
    expect(welcome.subject).not.toContain('<');
  });
});

describe('cached pages', () => {
  it('never serves the leaderboard or home page with the old name', async () => {
    await set({ program_name: 'Before Cache' });
    for (const path of ['/referral/leaderboard', '/']) {
      const first = await bare(t).get(path);
      const cached = await bare(t).get(path);
      // A page cache hit carries its own strong ETag (Express's are weak).
      expect(String(cached.headers.etag)).toMatch(/^"/);
      expect(cached.text).toBe(first.text);
      expect(brandOf(cached.text)).toBe('Before Cache');
    }
    await set({ program_name: 'After Cache' });
    for (const path of ['/referral/leaderboard', '/']) {
      const after = await bare(t).get(path);
      expect(brandOf(after.text)).toBe('After Cache');
      expect(after.text).not.toContain('Before Cache');
    }
  });
});

describe('another worker', () => {
  it('sees a change made elsewhere within the refresh time, in pages and emails', async () => {
    await set({ program_name: 'First Name', friend_offer: 'A free month' });
    const sibling = siblingApp(t);
    expect(brandOf((await bare(sibling).get('/')).text)).toBe('First Name');
    expect(brandOf((await bare(sibling).get('/')).text)).toBe('First Name'); // now cached there too

    await set({ program_name: 'Second Name' });
    // This worker made the change: it shows at once.
    expect(brandOf((await bare(t).get('/')).text)).toBe('Second Name');
    // The other notices within SETTINGS_REFRESH_MS; the wait is bounded well above it.
    let seen: string | undefined;
    for (const until = Date.now() + 5 * SETTINGS_REFRESH_MS; Date.now() < until;) {
      seen = brandOf((await bare(sibling).get('/')).text);
      if (seen === 'Second Name') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen).toBe('Second Name');

    const email = uniqueEmail('sibling');
    await signup(sibling.request(), { email });
    expect((await latestMail(sibling, 'welcome', email)).textBody).toContain('Welcome to Second Name');
  });
});

describe('the invited sign-up page', () => {
  let ada: Agent;
  let code: string;
  let adaEmail: string;
  beforeAll(async () => {
    await set({ program_name: 'Acme Rewards', friend_offer: '20% off your first order' });
    ada = t.request();
    adaEmail = uniqueEmail('ada');
    await signup(ada, { email: adaEmail, name: 'Ada Lovelace' });
    code = (await userByEmail(t.db, adaEmail))!.referralCode;
  });

  const invitation = (html: string) => /<section class="invitation"[^>]*>([\s\S]*?)<\/section>/.exec(html)?.[1];
  const privacy = async (display: string) => {
    const _csrf = await csrfFor(ada, '/dashboard');
    expect((await ada.post('/account/privacy').type('form').send({ display, _csrf })).status).toBe(303);
  };

  it('names the inviter and shows the offer, through the link and through the cookie it sets', async () => {
    const click = await bare(t).get(`/r/${code}`);
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe(`/auth/signup?ref=${code}`);
    const page = await bare(t).get(click.headers.location as string);
    expect(invitation(page.text)).toContain('<strong>Ada Lovelace</strong> invited you.');
    expect(invitation(page.text)).toContain('20% off your first order');
    const byCookie = await bare(t).get('/auth/signup').set('Cookie', `${REF_COOKIE}=${code}`);
    expect(invitation(byCookie.text)).toContain('<strong>Ada Lovelace</strong> invited you.');
  });

  it("follows the inviter's leaderboard display choice", async () => {
    await privacy('initials');
    const initials = await bare(t).get(`/auth/signup?ref=${code}`);
    expect(invitation(initials.text)).toContain('<strong>Ada L.</strong> invited you.');
    expect(initials.text).not.toContain('Lovelace');
    await privacy('anonymous');
    const anonymous = await bare(t).get(`/auth/signup?ref=${code}`);
    expect(invitation(anonymous.text)).toContain('<strong>Anonymous referrer</strong> invited you.');
    expect(anonymous.text).not.toContain('Ada');
    await privacy('name');
  });

  it('shows the inviter without an offer when there is none', async () => {
    await set({ friend_offer: '' });
    const page = await bare(t).get(`/auth/signup?ref=${code}`);
    expect(invitation(page.text)).toContain('<strong>Ada Lovelace</strong> invited you.');
    expect(invitation(page.text)).not.toContain('you get');
    await set({ friend_offer: '20% off your first order' });
  });

  it('shows nothing for an unknown code, a disabled inviter or no code', async () => {
    for (const path of ['/auth/signup?ref=NOSUCHCODE1', '/auth/signup']) {
      const page = await bare(t).get(path);
      expect(page.status).toBe(200);
      expect(invitation(page.text)).toBeUndefined();
      expect(page.text).not.toContain('20% off your first order');
    }
    await setUserStatus(t, adaEmail.toLowerCase(), 'disabled');
    try {
      const page = await bare(t).get(`/auth/signup?ref=${code}`);
      expect(invitation(page.text)).toBeUndefined();
      expect(page.text).not.toContain('Ada Lovelace');
    } finally {
      await setUserStatus(t, adaEmail.toLowerCase(), 'active');
    }
  });
});

describe("the referred friend's dashboard and welcome email", () => {
  it('shows the offer only once their own referral is credited', async () => {
    // Referrals count once the friend confirms their email (the default), without the fraud screen.
    const app = fresh({ CREDIT_ON: 'verified', FRAUD_SCREEN: 'off' });
    const boss = app.request();
    await signup(boss, { email: ADMIN, name: 'Other Boss' });
    await set({ program_name: 'Acme Rewards', friend_offer: 'Two free coffees' }, boss);

    const grace = app.request();
    const graceEmail = uniqueEmail('grace');
    await signup(grace, { email: graceEmail, name: 'Grace Hopper' });
    const code = (await userByEmail(app.db, graceEmail))!.referralCode;

    const friend = app.request();
    const friendEmail = uniqueEmail('friend');
    await signup(friend, { email: friendEmail, name: 'Fay Friend', referral_code: code });
    const pending = await friend.get('/dashboard');
    expect(pending.status).toBe(200);
    expect(pending.text).not.toContain('data-friend-offer');
    expect(pending.text).not.toContain('Two free coffees');

    await confirmEmail(friend, app.db, friendEmail);
    const credited = await friend.get('/dashboard');
    expect(credited.text).toContain('You joined through Grace Hopper’s link: <strong>Two free coffees</strong>');
    // The inviter's own dashboard has no such line: nobody invited them.
    expect((await grace.get('/dashboard')).text).not.toContain('data-friend-offer');

    // An offer removed later does not take back what the friend was credited with: their
    // friend reward keeps the offer of that moment (test/friend-rewards.test.ts).
    await set({ program_name: 'Acme Rewards', friend_offer: '' }, boss);
    const after = (await friend.get('/dashboard')).text;
    expect(after).toContain('Two free coffees');
    expect(after).toContain('Your reward is on its way.');

    const [audits] = await app.db.select({ n: count() }).from(auditLog).where(eq(auditLog.action, 'settings.update'));
    expect(audits?.n).toBe(2);
  });

  it('tells an invited person in the welcome email what they get once their referral counts', () => {
    const program = { name: 'Acme Rewards', tagline: '', friendOffer: '<b>Two free coffees</b>', supportEmail: '' };
    const notifications = createNotifications({ templates: createMailTemplates(), config: t.config, program: () => program });
    const recipient = { name: 'Ivy Invited', email: 'ivy@example.com', emailVerifiedAt: null, referralCode: 'ABCD2345' };
    const invited = notifications.welcome(recipient, 'token', true)!;
    expect(invited.text).toContain('What you get once your referral counts: <b>Two free coffees</b>');
    expect(invited.html).toContain('What you get once your referral counts: <strong>&lt;b&gt;Two free coffees&lt;/b&gt;</strong>');
    expect(invited.html).not.toContain('<b>Two');
    const uninvited = notifications.welcome(recipient, 'token')!;
    expect(uninvited.text).not.toContain('What you get once your referral counts');
    expect(uninvited.text).toContain('Friends who join through it get: <b>Two free coffees</b>');
  });
});
