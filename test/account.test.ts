import { and, desc, eq } from 'drizzle-orm';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, emailOutbox, referrals, sessions, userTokens, users, type User } from '../src/db/schema.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { countOf, userByEmail } from './helpers/db.js';
import { bare, fieldError as plainFieldError } from './helpers/extra.js';
import { confirmEmail } from './helpers/mailbox.js';
import { csrfFor, login, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';

type Agent = supertest.Agent;

const ADMIN = 'account-boss@example.com';
const DAY = 24 * 60 * 60 * 1000;
const NEW_PASSWORD = 'a brand new passphrase here';

const apps: TestApp[] = [];
/** A fresh app (own database and clock), closed after the file. */
function fresh(env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const made = makeTestApp({ ADMIN_EMAILS: ADMIN, ...env });
  apps.push(made);
  return made;
}
const t = fresh();
afterAll(() => Promise.all(apps.map((a) => a.close())));

interface Person {
  app: TestApp;
  agent: Agent;
  email: string;
  name: string;
  id: number;
  code: string;
}

/** Signs a person up through the real form; their agent stays logged in. */
async function person(app: TestApp = t, fields: { name?: string; email?: string; referral_code?: string } = {}): Promise<Person> {
  const agent = app.request();
  const email = fields.email ?? uniqueEmail('acct');
  const name = fields.name ?? 'Avery Account';
  const res = await signup(agent, { name, email, referral_code: fields.referral_code ?? '' });
  expect(res.status).toBe(303);
  const row = (await userByEmail(app.db, email))!;
  return { app, agent, email, name, id: row.id, code: row.referralCode };
}

/** Friends signing up with a code (credited at sign-up in these tests). */
async function friendsOf(app: TestApp, code: string, names: string[]): Promise<Person[]> {
  const made: Person[] = [];
  for (const name of names) made.push(await person(app, { name, referral_code: code }));
  return made;
}

async function rowOf(app: TestApp, id: number): Promise<User> {
  const [row] = await app.db.select().from(users).where(eq(users.id, id));
  if (!row) throw new Error(`no user ${id}`);
  return row;
}

/** Posts a form as the person's browser would, with a CSRF token from a page of theirs. */
async function post(p: { agent: Agent }, path: string, fields: Record<string, string>) {
  const _csrf = await csrfFor(p.agent, '/dashboard');
  return p.agent
    .post(path)
    .type('form')
    .send({ ...fields, _csrf });
}

/** Posts a raw urlencoded body (for duplicate fields), with a CSRF token. */
async function postRaw(p: { agent: Agent }, path: string, body: string) {
  const _csrf = await csrfFor(p.agent, '/dashboard');
  return p.agent
    .post(path)
    .type('form')
    .send(`_csrf=${encodeURIComponent(_csrf)}&${body}`);
}

async function mails(app: TestApp, kind: string, to?: string) {
  const rows = await app.db.select().from(emailOutbox).where(eq(emailOutbox.kind, kind)).orderBy(desc(emailOutbox.id));
  return to === undefined ? rows : rows.filter((r) => r.toAddress.toLowerCase() === to.toLowerCase());
}

const CONFIRM_LINK = /\/account\/email\/confirm\/[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/;

/** The newest email-change link sent to an address. */
async function changeLinkFor(app: TestApp, to: string): Promise<string> {
  const [mail] = await mails(app, 'email_change', to);
  if (!mail) throw new Error(`no email_change mail to ${to}`);
  const link = CONFIRM_LINK.exec(mail.textBody)?.[0];
  if (!link) throw new Error(`no confirmation link in: ${mail.textBody}`);
  return link;
}

async function leaderboardNames(app: TestApp): Promise<string[]> {
  const res = await bare(app).get('/api/leaderboard');
  expect(res.status).toBe(200);
  return (res.body.entries as { name: string }[]).map((e) => e.name);
}

/** Makes an integration API key through the admin page, as in test/api.test.ts. */
async function apiKey(app: TestApp, scope: 'read' | 'write'): Promise<string> {
  const agent = app.request();
  if (await userByEmail(app.db, ADMIN)) expect((await login(agent, ADMIN)).status).toBe(303);
  else expect((await signup(agent, { email: ADMIN, name: 'Account Boss' })).status).toBe(303);
  const _csrf = await csrfFor(agent, '/admin/api-keys');
  const res = await agent
    .post('/admin/api-keys')
    .type('form')
    .send({ name: `${scope} key`, scope, _csrf });
  expect(res.status).toBe(201);
  const key = /value="(rk_[A-Za-z0-9_-]{43})"/.exec(res.text)?.[1];
  if (!key) throw new Error('no key on the page');
  return key;
}

/**
 * The error shown next to a field. The account page holds several forms with a
 * current_password field each, so their ids carry a form prefix (e-m-current_password).
 */
function fieldError(html: string, field: string): string | undefined {
  return plainFieldError(html, field) ?? new RegExp(`<small id="e-[a-z]+-${field}"[^>]*>([^<]*)</small>`).exec(html)?.[1]?.trim();
}

let vanityN = 0;
/** A vanity code nobody has used in this process: 4–16 of A–Z 0–9 '-'. */
function vanity(prefix = 'VAN'): string {
  vanityN += 1;
  return `${prefix}-${process.pid % 1000}${vanityN}`.toUpperCase().slice(0, 16);
}

/** Every key of a JSON value, recursively. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...keysOf(v)]);
  return [];
}

/** Every primitive value under a JSON value, recursively. */
function valuesOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(valuesOf);
  if (value && typeof value === 'object') return Object.values(value).flatMap(valuesOf);
  return [value];
}

/** The values of every key matching a pattern, anywhere in a JSON value. */
function valuesUnder(value: unknown, key: RegExp): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v: unknown) => valuesUnder(v, key));
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]): unknown[] => [...(key.test(k) ? [v] : []), ...valuesUnder(v, key)]);
  }
  return [];
}

describe('access', () => {
  it.each(['/account', '/account/export.json'])('GET %s sends an anonymous visitor to the login form', async (path) => {
    const res = await t.request().get(path);
    expect(res.status).toBe(302);
    expect(String(res.headers.location)).toMatch(/^\/auth\/login/);
  });

  it('renders one page with every form, each carrying a CSRF token, and a link to the export', async () => {
    const p = await person();
    const res = await p.agent.get('/account');
    expect(res.status).toBe(200);
    for (const action of ['/account/name', '/account/email', '/account/password', '/account/privacy', '/account/code', '/account/delete']) {
      expect(res.text).toContain(`action="${action}"`);
    }
    expect((res.text.match(/name="_csrf"/g) ?? []).length).toBeGreaterThanOrEqual(6);
    expect(res.text).toContain('href="/account/export.json"');
    for (const field of ['name', 'email', 'current_password', 'password', 'display', 'code']) expect(res.text).toContain(`name="${field}"`);
  });
});

describe('name', () => {
  it('changes the name and redirects back to the account page with a message', async () => {
    const p = await person(t, { name: 'Old Name' });
    const res = await post(p, '/account/name', { name: '  Ada   Lovelace ' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account');
    expect((await rowOf(t, p.id)).name).toBe('Ada Lovelace');
    const page = await p.agent.get('/account');
    expect(page.text).toMatch(/<p class="flash flash-success" role="status">/);
  });

  it('accepts a name of exactly 60 characters', async () => {
    const p = await person();
    const name = 'N'.repeat(60);
    expect((await post(p, '/account/name', { name })).status).toBe(303);
    expect((await rowOf(t, p.id)).name).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['blank', '    '],
    ['61 characters', 'N'.repeat(61)],
    ['a line break', 'Ada\nLovelace'],
    ['a control character', 'Ada\u0007Lovelace'],
    ['a bidi override', 'Ada \u202Eecalevol'],
    ['a zero-width space', 'Ada\u200BLovelace'],
    ['a byte order mark', '\uFEFFAda Lovelace'],
  ])('refuses a name with %s: 400, field error, name unchanged', async (_label, name) => {
    const p = await person(t, { name: 'Kept Name' });
    const res = await post(p, '/account/name', { name });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'name')).toBeTruthy();
    expect((await rowOf(t, p.id)).name).toBe('Kept Name');
  });
});

describe('email change', () => {
  it('refuses a wrong current password with 401 and queues nothing', async () => {
    const p = await person();
    const target = uniqueEmail('wrongpw');
    const res = await post(p, '/account/email', { email: target, current_password: 'not my password at all' });
    expect(res.status).toBe(401);
    expect(fieldError(res.text, 'current_password')).toBeTruthy();
    expect(await mails(t, 'email_change', target)).toHaveLength(0);
    expect((await rowOf(t, p.id)).email).toBe(p.email);
  });

  it.each(['not-an-email', 'a@b', 'two@@example.com', ''])('refuses the invalid address %j with 400 and a field error', async (email) => {
    const p = await person();
    const before = (await mails(t, 'email_change')).length;
    const res = await post(p, '/account/email', { email, current_password: STRONG_PASSWORD });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'email')).toBeTruthy();
    expect(await mails(t, 'email_change')).toHaveLength(before);
  });

  it('refuses the address the account already has, in any case', async () => {
    const p = await person();
    for (const email of [p.email, p.email.toUpperCase()]) {
      const res = await post(p, '/account/email', { email, current_password: STRONG_PASSWORD });
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'email')).toBeTruthy();
    }
    expect(await mails(t, 'email_change', p.email)).toHaveLength(0);
  });

  it('refuses an address another account uses, in any case', async () => {
    const p = await person();
    const other = await person();
    for (const email of [other.email, other.email.toUpperCase()]) {
      const res = await post(p, '/account/email', { email, current_password: STRONG_PASSWORD });
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'email')).toBeTruthy();
    }
    expect(await mails(t, 'email_change', other.email)).toHaveLength(0);
    expect((await rowOf(t, p.id)).email).toBe(p.email);
  });

  it('sends a link to the new address and changes the email only when it is opened, telling the old address', async () => {
    const p = await person();
    const target = `Ada.New.${process.pid}@Example.com`;
    const res = await post(p, '/account/email', { email: target, current_password: STRONG_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account');
    expect(await mails(t, 'email_change', target)).toHaveLength(1);
    const link = await changeLinkFor(t, target);
    const waiting = await rowOf(t, p.id);
    expect(waiting.email).toBe(p.email);
    expect(waiting.emailNormalized).toBe(p.email.toLowerCase());
    expect(await mails(t, 'email_changed', p.email)).toHaveLength(0);

    // Opened from a mail app: no session at all.
    const opened = await bare(t).get(link);
    expect(opened.status).toBe(303);
    const changed = await rowOf(t, p.id);
    expect(changed.email).toBe(target);
    expect(changed.emailNormalized).toBe(target.toLowerCase());
    expect(changed.emailVerifiedAt).toBeInstanceOf(Date);
    expect(await mails(t, 'email_changed', p.email)).toHaveLength(1);

    expect((await bare(t).get(link)).status).toBe(400);
    expect((await rowOf(t, p.id)).email).toBe(target);
    expect(await mails(t, 'email_changed', p.email)).toHaveLength(1);

    expect((await login(t.request(), p.email)).status).toBe(401);
    expect((await login(t.request(), target.toLowerCase())).status).toBe(303);
  });

  it('voids an older link when a newer change is asked for', async () => {
    const p = await person();
    const first = uniqueEmail('first-target');
    const second = uniqueEmail('second-target');
    expect((await post(p, '/account/email', { email: first, current_password: STRONG_PASSWORD })).status).toBe(303);
    const firstLink = await changeLinkFor(t, first);
    expect((await post(p, '/account/email', { email: second, current_password: STRONG_PASSWORD })).status).toBe(303);
    const secondLink = await changeLinkFor(t, second);
    expect((await bare(t).get(firstLink)).status).toBe(400);
    expect((await rowOf(t, p.id)).email).toBe(p.email);
    expect((await bare(t).get(secondLink)).status).toBe(303);
    expect((await rowOf(t, p.id)).email).toBe(second);
  });

  it('refuses the link when another account took the address meanwhile, and changes nothing', async () => {
    const p = await person();
    const target = uniqueEmail('contested');
    expect((await post(p, '/account/email', { email: target, current_password: STRONG_PASSWORD })).status).toBe(303);
    const link = await changeLinkFor(t, target);
    const taker = await person(t, { email: target });
    const res = await bare(t).get(link);
    expect(res.status).toBe(400);
    expect((await rowOf(t, p.id)).email).toBe(p.email);
    expect((await rowOf(t, taker.id)).email).toBe(target);
    expect(await mails(t, 'email_changed', p.email)).toHaveLength(0);
  });

  it('lets only the first of two accounts waiting for the same address have it', async () => {
    const first = await person();
    const second = await person();
    const target = uniqueEmail('wanted');
    expect((await post(first, '/account/email', { email: target, current_password: STRONG_PASSWORD })).status).toBe(303);
    const firstLink = await changeLinkFor(t, target);
    expect((await post(second, '/account/email', { email: target, current_password: STRONG_PASSWORD })).status).toBe(303);
    const secondLink = await changeLinkFor(t, target);
    expect(secondLink).not.toBe(firstLink);
    expect((await bare(t).get(secondLink)).status).toBe(303);
    expect((await bare(t).get(firstLink)).status).toBe(400);
    expect((await rowOf(t, second.id)).email).toBe(target);
    expect((await rowOf(t, first.id)).email).toBe(first.email);
  });

  it('answers 400 to a made-up or malformed link', async () => {
    expect((await bare(t).get(`/account/email/confirm/${'A'.repeat(43)}`)).status).toBe(400);
    const malformed = await bare(t).get('/account/email/confirm/short');
    expect([400, 404]).toContain(malformed.status);
  });

  it('refuses a link after 24 hours', async () => {
    const app = fresh();
    const p = await person(app);
    const target = uniqueEmail('late');
    expect((await post(p, '/account/email', { email: target, current_password: STRONG_PASSWORD })).status).toBe(303);
    const link = await changeLinkFor(app, target);
    app.clock.advance(DAY + 60_000);
    expect((await bare(app).get(link)).status).toBe(400);
    expect((await rowOf(app, p.id)).email).toBe(p.email);
  });

  it('accepts a link within 24 hours', async () => {
    const app = fresh();
    const p = await person(app);
    const target = uniqueEmail('intime');
    expect((await post(p, '/account/email', { email: target, current_password: STRONG_PASSWORD })).status).toBe(303);
    const link = await changeLinkFor(app, target);
    app.clock.advance(DAY - 60_000);
    expect((await bare(app).get(link)).status).toBe(303);
    expect((await rowOf(app, p.id)).email).toBe(target);
  });

  it('is rate limited per account like confirmation resends', async () => {
    const app = fresh({ RATE_VERIFY_RESEND_PER_ACCOUNT: '2' });
    const p = await person(app);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await post(p, '/account/email', { email: uniqueEmail(`limited${i}`), current_password: STRONG_PASSWORD })).status);
    }
    expect(statuses).toEqual([303, 303, 429]);
    expect(await mails(app, 'email_change')).toHaveLength(2);
  });
});

describe('password change', () => {
  it('refuses a wrong current password with 401 and keeps the old password', async () => {
    const p = await person();
    const res = await post(p, '/account/password', { current_password: 'not my password at all', password: NEW_PASSWORD });
    expect(res.status).toBe(401);
    expect(fieldError(res.text, 'current_password')).toBeTruthy();
    expect((await login(t.request(), p.email, NEW_PASSWORD)).status).toBe(401);
    expect((await login(t.request(), p.email)).status).toBe(303);
    expect(await mails(t, 'password_changed', p.email)).toHaveLength(0);
  });

  it.each([
    ['shorter than 8 characters', 'short1!'],
    ['a common password', 'password123'],
    ['longer than 72 bytes', 'x'.repeat(73)],
    ['longer than 72 bytes in few characters', 'é'.repeat(37)],
  ])('refuses a new password %s with 400 and a field error', async (_label, password) => {
    const p = await person();
    const res = await post(p, '/account/password', { current_password: STRONG_PASSWORD, password });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toBeTruthy();
    expect((await login(t.request(), p.email)).status).toBe(303);
  });

  it('changes the password, revokes every other session, keeps this one and emails a notice', async () => {
    const p = await person();
    // Notices go to confirmed addresses only (see notifications.ts).
    await confirmEmail(p.agent, t.db, p.email);
    const otherDevice = t.request();
    expect((await login(otherDevice, p.email)).status).toBe(303);
    expect((await otherDevice.get('/dashboard')).status).toBe(200);

    const res = await post(p, '/account/password', { current_password: STRONG_PASSWORD, password: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect((await p.agent.get('/dashboard')).status).toBe(200);
    const kicked = await otherDevice.get('/dashboard');
    expect(kicked.status).toBe(302);
    expect(String(kicked.headers.location)).toMatch(/^\/auth\/login/);
    expect(await countOf(t.db, 'select count(*) from sessions where user_id = ?', p.id)).toBe(1);

    expect((await login(t.request(), p.email)).status).toBe(401);
    expect((await login(t.request(), p.email, NEW_PASSWORD)).status).toBe(303);
    expect(await mails(t, 'password_changed', p.email)).toHaveLength(1);
  });

  it('voids a reset link asked for before the change, so it cannot undo it', async () => {
    const p = await person();
    const forgot = t.request();
    const _csrf = await csrfFor(forgot, '/auth/forgot');
    expect((await forgot.post('/auth/forgot').type('form').send({ email: p.email, _csrf })).status).toBe(303);
    const [reset] = await mails(t, 'password_reset', p.email);
    const path = /\/auth\/reset\/[A-Za-z0-9_-]{43}/.exec(reset!.textBody)![0];
    expect((await t.request().get(path)).status).toBe(200);
    expect((await post(p, '/account/password', { current_password: STRONG_PASSWORD, password: NEW_PASSWORD })).status).toBe(303);
    expect((await t.request().get(path)).status).toBe(400);
  });
});

describe('leaderboard display', () => {
  let app: TestApp;
  let ada: Person;
  let readKey: string;
  beforeAll(async () => {
    app = fresh();
    readKey = await apiKey(app, 'read');
    ada = await person(app, { name: 'Ada Lovelace' });
    await friendsOf(app, ada.code, ['Friend Of Ada']);
  });

  /** What every public surface shows: leaderboard page, its JSON, the home page, the integration API. */
  async function surfaces() {
    const page = await bare(app).get('/referral/leaderboard');
    const json = await bare(app).get('/api/leaderboard');
    const home = await bare(app).get('/');
    const integration = await bare(app).get('/api/v1/leaderboard').set('Authorization', `Bearer ${readKey}`);
    for (const res of [page, json, home, integration]) expect(res.status).toBe(200);
    return {
      page: page.text,
      json: (json.body.entries as { name: string }[]).map((e) => e.name),
      home: home.text,
      integration: (integration.body.data as { name: string }[]).map((e) => e.name),
      raw: `${page.text}\n${json.text}\n${home.text}\n${integration.text}`,
    };
  }

  it('shows the full name, then initials, then "Anonymous referrer", everywhere, even with pages cached', async () => {
    const byName = await surfaces();
    await surfaces(); // a second anonymous visit is served from the page cache
    expect(byName.json).toContain('Ada Lovelace');
    expect(byName.integration).toContain('Ada Lovelace');
    expect(byName.page).toContain('Ada Lovelace');
    expect(byName.home).toContain('Ada Lovelace');

    const toInitials = await post(ada, '/account/privacy', { display: 'initials' });
    expect(toInitials.status).toBe(303);
    expect((await rowOf(app, ada.id)).leaderboardDisplay).toBe('initials');
    const initials = await surfaces();
    expect(initials.json).toContain('Ada L.');
    expect(initials.integration).toContain('Ada L.');
    expect(initials.page).toContain('Ada L.');
    expect(initials.home).toContain('Ada L.');
    expect(initials.raw).not.toContain('Lovelace');

    expect((await post(ada, '/account/privacy', { display: 'anonymous' })).status).toBe(303);
    const anonymous = await surfaces();
    expect(anonymous.json).toContain('Anonymous referrer');
    expect(anonymous.integration).toContain('Anonymous referrer');
    expect(anonymous.page).toContain('Anonymous referrer');
    expect(anonymous.home).toContain('Anonymous referrer');
    expect(anonymous.raw).not.toContain('Lovelace');
    expect(anonymous.raw).not.toContain('Ada L.');

    expect((await post(ada, '/account/privacy', { display: 'name' })).status).toBe(303);
    const back = await surfaces();
    expect(back.json).toContain('Ada Lovelace');
    expect(back.page).toContain('Ada Lovelace');
    expect(back.home).toContain('Ada Lovelace');
  });

  it('shows a cached leaderboard page with the new display right after the change', async () => {
    const grace = await person(app, { name: 'Grace Cachetest' });
    await friendsOf(app, grace.code, ['Friend Of Grace']);
    const before = await bare(app).get('/referral/leaderboard');
    expect(before.text).toContain('Grace Cachetest');
    // Cached now: the page cache answers with its own strong ETag, Express renders carry a weak one.
    const cached = await bare(app).get('/referral/leaderboard');
    expect(cached.text).toBe(before.text);
    expect(String(cached.headers.etag)).toMatch(/^"/);
    expect((await post(grace, '/account/privacy', { display: 'initials' })).status).toBe(303);
    const after = await bare(app).get('/referral/leaderboard');
    expect(after.text).toContain('Grace C.');
    expect(after.text).not.toContain('Grace Cachetest');
    expect(await leaderboardNames(app)).toContain('Grace C.');
  });

  it("shows a neighbour's chosen display on another person's ?around=me view", async () => {
    const neighbour = await person(app, { name: 'Nadia Neighbourly' });
    await friendsOf(app, neighbour.code, ['Friend Of Nadia']);
    expect((await post(neighbour, '/account/privacy', { display: 'anonymous' })).status).toBe(303);
    const viewer = await person(app, { name: 'Victor Viewer' });
    await friendsOf(app, viewer.code, ['Friend Of Victor']);
    const res = await viewer.agent.get('/referral/leaderboard?around=me');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Victor Viewer');
    expect(res.text).not.toContain('Neighbourly');
    expect(res.text).toContain('Anonymous referrer');
  });

  it.each([
    ['Grace Brewster Hopper', 'Grace H.'],
    ['Plato', 'Plato'],
  ])('shows %j as %j with initials', async (name, shown) => {
    const p = await person(app, { name });
    await friendsOf(app, p.code, [`Friend Of ${name}`]);
    expect((await post(p, '/account/privacy', { display: 'initials' })).status).toBe(303);
    expect(await leaderboardNames(app)).toContain(shown);
    if (name !== shown) expect(await leaderboardNames(app)).not.toContain(name);
  });

  it.each(['', 'full', 'Name', 'INITIALS', 'hidden', 'anonymous '])('refuses display=%j with 400 and keeps the setting', async (display) => {
    const p = await person(app);
    const res = await post(p, '/account/privacy', { display });
    expect(res.status).toBe(400);
    expect((await rowOf(app, p.id)).leaderboardDisplay).toBe('name');
  });
});

describe('vanity codes', () => {
  it('stores a valid code upper-case and shows it on the dashboard', async () => {
    const p = await person();
    const code = vanity('ada');
    const res = await post(p, '/account/code', { code: code.toLowerCase() });
    expect(res.status).toBe(303);
    expect((await rowOf(t, p.id)).referralCode).toBe(code.toUpperCase());
    expect((await p.agent.get('/dashboard')).text).toContain(code.toUpperCase());
  });

  it.each(['abcd', 'ABCDEFGHIJKLMNOP', '0-0-0-0', 'LOVE'])('accepts %j (4 to 16 of A-Z, 0-9 and -)', async (code) => {
    const p = await person();
    const res = await post(p, '/account/code', { code });
    expect(res.status).toBe(303);
    expect((await rowOf(t, p.id)).referralCode).toBe(code.toUpperCase());
  });

  it.each([
    ['too short', 'ABC'],
    ['too long', 'ABCDEFGHIJKLMNOPQ'],
    ['an underscore', 'ADA_LOVE'],
    ['a space', 'ADA LOVE'],
    ['a non-ASCII letter', 'ÅDALOVE'],
    ['a slash', 'ADA/LOVE'],
    ['empty', ''],
  ])('refuses a code with %s: 400, field error, code unchanged', async (_label, code) => {
    const p = await person();
    const res = await post(p, '/account/code', { code });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'code')).toBeTruthy();
    expect((await rowOf(t, p.id)).referralCode).toBe(p.code);
  });

  it.each(['ADMIN', 'admin', 'Api', 'AUTH', 'root'])('refuses the reserved word %j', async (code) => {
    const p = await person();
    const res = await post(p, '/account/code', { code });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'code')).toBeTruthy();
    expect((await rowOf(t, p.id)).referralCode).toBe(p.code);
  });

  it("refuses the person's own current code", async () => {
    const p = await person();
    for (const code of [p.code, p.code.toLowerCase()]) {
      const res = await post(p, '/account/code', { code });
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'code')).toBeTruthy();
    }
  });

  it("refuses another user's current code, in any case", async () => {
    const p = await person();
    const other = await person();
    const taken = vanity('taken');
    expect((await post(other, '/account/code', { code: taken })).status).toBe(303);
    // Their generated code is now a former one; the vanity code is current.
    for (const code of [other.code, taken, taken.toLowerCase()]) {
      const res = await post(p, '/account/code', { code });
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'code')).toBeTruthy();
    }
    expect((await rowOf(t, p.id)).referralCode).toBe(p.code);
  });

  it('gives a code claimed by two people at the same moment to exactly one of them', async () => {
    const a = await person();
    const b = await person();
    const wanted = vanity('race');
    const results = await Promise.all([post(a, '/account/code', { code: wanted }), post(b, '/account/code', { code: wanted })]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 400]);
    const holders = [await rowOf(t, a.id), await rowOf(t, b.id)].filter((u) => u.referralCode === wanted);
    expect(holders).toHaveLength(1);
  });

  it("refuses a code that is another person's code as the sign-up form reads it (dashes, O for 0, I or L for 1)", async () => {
    // The sign-up form and /r/ read a generated code forgivingly: 'ABCD-1234' and
    // 'ABCDL234' are both 'ABCD1234'. A vanity code spelled like that would capture the
    // friends who type the other person's code that way.
    const owner = await person(t, { name: 'Owen Original' });
    const dashed = `${owner.code.slice(0, 4)}-${owner.code.slice(4)}`;
    const lookalike = owner.code.replace(/1/g, 'L').replace(/0/g, 'O');
    const squatter = await person();
    for (const code of lookalike === owner.code ? [dashed] : [dashed, lookalike]) {
      const res = await post(squatter, '/account/code', { code });
      expect(res.status, code).toBe(400);
      expect(fieldError(res.text, 'code')).toBeTruthy();
    }
    expect((await rowOf(t, squatter.id)).referralCode).toBe(squatter.code);
    const [friend] = await friendsOf(t, dashed.toLowerCase(), ['Dashed Typist']);
    expect((await rowOf(t, friend!.id)).referredById).toBe(owner.id);
  });

  it('keeps a former code crediting the same person forever, and nobody else can take it', async () => {
    const p = await person(t, { name: 'Vera Vanity' });
    const oldCode = p.code;
    const newCode = vanity('vera');
    expect((await post(p, '/account/code', { code: newCode })).status).toBe(303);

    const click = await bare(t).get(`/r/${oldCode}`);
    expect(click.status).toBe(302);
    expect(String(click.headers.location)).toMatch(/^\/auth\/signup\?ref=./);
    const newClick = await bare(t).get(`/r/${newCode}`);
    expect(newClick.status).toBe(302);
    expect(String(newClick.headers.location)).toMatch(/^\/auth\/signup\?ref=./);

    const [viaOld] = await friendsOf(t, oldCode, ['Old Link Friend']);
    expect((await rowOf(t, p.id)).referralsCount).toBe(1);
    const [viaOldLower] = await friendsOf(t, oldCode.toLowerCase(), ['Old Lower Friend']);
    expect((await rowOf(t, p.id)).referralsCount).toBe(2);
    const [viaNew] = await friendsOf(t, newCode.toLowerCase(), ['New Link Friend']);
    expect((await rowOf(t, p.id)).referralsCount).toBe(3);
    for (const friend of [viaOld!, viaOldLower!, viaNew!]) {
      const [row] = await t.db.select().from(referrals).where(eq(referrals.referredUserId, friend.id));
      expect(row).toMatchObject({ referrerId: p.id, status: 'credited' });
    }

    const other = await person();
    for (const code of [oldCode, oldCode.toLowerCase()]) {
      const res = await post(other, '/account/code', { code });
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'code')).toBeTruthy();
    }
    expect((await rowOf(t, other.id)).referralCode).toBe(other.code);
  });

  it('allows one change per 30 days, and every former code keeps working', async () => {
    const app = fresh();
    const p = await person(app);
    const first = p.code;
    const second = vanity('first');
    const third = vanity('second');
    expect((await post(p, '/account/code', { code: second })).status).toBe(303);
    app.clock.advance(29 * DAY);
    const early = await post(p, '/account/code', { code: third });
    expect(early.status).toBe(400);
    expect(fieldError(early.text, 'code')).toBeTruthy();
    expect((await rowOf(app, p.id)).referralCode).toBe(second);

    app.clock.advance(DAY + 60_000);
    expect((await post(p, '/account/code', { code: third })).status).toBe(303);
    expect((await rowOf(app, p.id)).referralCode).toBe(third);

    await friendsOf(app, first, ['First Code Friend']);
    await friendsOf(app, second, ['Second Code Friend']);
    await friendsOf(app, third, ['Third Code Friend']);
    expect((await rowOf(app, p.id)).referralsCount).toBe(3);
  });
});

describe('export', () => {
  let app: TestApp;
  beforeAll(() => {
    // Fresh installs have a 'First friend' reward at one referral: the exported person earns it.
    app = fresh();
  });

  it('downloads everything stored about the person as a JSON attachment, without secrets', async () => {
    const rosa = await person(app, { name: 'Rosa Upstream' });
    const p = await person(app, { name: 'Ezra Exporter', referral_code: rosa.code });
    const formerCode = p.code;
    const newCode = vanity('ezra');
    expect((await post(p, '/account/code', { code: newCode })).status).toBe(303);
    expect((await post(p, '/account/privacy', { display: 'initials' })).status).toBe(303);
    await friendsOf(app, newCode, ['Fiona Exportfriend', 'Frank Exportfriend']);
    for (const ua of ['ua-one', 'ua-two', 'ua-three']) await bare(app).get(`/r/${newCode}`).set('User-Agent', ua);
    // A pending email change puts a token in the database, which must not leak either.
    expect((await post(p, '/account/email', { email: uniqueEmail('export-target'), current_password: STRONG_PASSWORD })).status).toBe(303);

    const res = await p.agent.get('/account/export.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(String(res.headers['content-disposition'])).toMatch(/^attachment/);
    const body = JSON.parse(res.text) as unknown;
    const values = valuesOf(body);
    const row = await rowOf(app, p.id);

    // Profile.
    expect(values).toContain('Ezra Exporter');
    expect(values).toContain(p.email);
    expect(values).toContain(newCode);
    expect(values).toContain(formerCode);
    expect(values).toContain('initials');
    expect(values.some((v) => v === row.createdAt.toISOString() || v === row.createdAt.getTime())).toBe(true);
    // Referrals made, with the friends' names and statuses.
    expect(values).toContain('Fiona Exportfriend');
    expect(values).toContain('Frank Exportfriend');
    expect(values).toContain('credited');
    // The referral they came from.
    expect(values.some((v) => v === 'Rosa Upstream' || v === rosa.code)).toBe(true);
    // Rewards.
    expect(values).toContain('First friend');
    // Clicks.
    const clicks = await countOf(app.db, 'select count(*) from referral_clicks where referrer_id = ?', p.id);
    expect(clicks).toBeGreaterThan(0);
    expect(valuesUnder(body, /click/i).flatMap(valuesOf)).toContain(clicks);

    // No secrets.
    expect(res.text).not.toContain(row.passwordHash);
    const tokens = await app.db.select({ hash: userTokens.tokenHash }).from(userTokens).where(eq(userTokens.userId, p.id));
    for (const token of tokens) expect(res.text).not.toContain(token.hash);
    const secretKeys = keysOf(body).filter((k) => /password|token|hash|session/i.test(k));
    expect(secretKeys).toEqual([]);
    // Nothing about other people beyond what the person already sees.
    expect(res.text).not.toContain(rosa.email);
  });

  it('is personal: each person downloads only their own data', async () => {
    const a = await person(app, { name: 'Only Mine' });
    const b = await person(app, { name: 'Someone Else' });
    const res = await a.agent.get('/account/export.json');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Only Mine');
    expect(res.text).not.toContain('Someone Else');
    expect(res.text).not.toContain(b.email);
  });
});

describe('deletion', () => {
  it('refuses a wrong password with 401 and changes nothing', async () => {
    const p = await person(t, { name: 'Staying Put' });
    const before = await rowOf(t, p.id);
    const res = await post(p, '/account/delete', { current_password: 'not my password at all' });
    expect(res.status).toBe(401);
    expect(fieldError(res.text, 'current_password')).toBeTruthy();
    expect(await rowOf(t, p.id)).toEqual(before);
    expect((await p.agent.get('/dashboard')).status).toBe(200);
  });

  it('pseudonymises the account, ends its sessions, leaves the leaderboard and keeps everyone else’s counts', async () => {
    const app = fresh();
    const upstream = await person(app, { name: 'Uma Upstream' });
    const leaving = await person(app, { name: 'Xena Leaving', referral_code: upstream.code });
    const friends = await friendsOf(app, leaving.code, ['Lena Leftbehind', 'Leo Leftbehind']);
    const bystander = await person(app, { name: 'Bo Bystander' });
    await friendsOf(app, bystander.code, ['Bystander Friend']);
    const otherDevice = app.request();
    expect((await login(otherDevice, leaving.email)).status).toBe(303);

    expect(await leaderboardNames(app)).toContain('Xena Leaving');
    expect((await bare(app).get('/referral/leaderboard')).text).toContain('Xena Leaving'); // now cached
    const countsBefore = await app.db.select({ id: users.id, n: users.referralsCount }).from(users);
    const friendRowsBefore = await app.db.select().from(referrals).where(eq(referrals.referrerId, leaving.id));
    expect(friendRowsBefore).toHaveLength(2);

    const res = await post(leaving, '/account/delete', { current_password: STRONG_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    for (const agent of [leaving.agent, otherDevice]) {
      const dash = await agent.get('/dashboard');
      expect(dash.status).toBe(302);
      expect(String(dash.headers.location)).toMatch(/^\/auth\/login/);
    }
    expect(await countOf(app.db, 'select count(*) from sessions where user_id = ?', leaving.id)).toBe(0);

    const row = await rowOf(app, leaving.id);
    expect(row).toMatchObject({ name: 'Deleted user', email: '', status: 'disabled' });
    expect(row.deletedAt).toBeInstanceOf(Date);

    expect(await leaderboardNames(app)).not.toContain('Xena Leaving');
    expect(await leaderboardNames(app)).not.toContain('Deleted user');
    const page = await bare(app).get('/referral/leaderboard');
    expect(page.text).not.toContain('Xena Leaving');
    expect(page.text).toContain('Bo Bystander');

    // History stays: the friends' rows and everybody else's counts are unchanged.
    expect(await app.db.select().from(referrals).where(eq(referrals.referrerId, leaving.id))).toEqual(friendRowsBefore);
    const countsAfter = await app.db.select({ id: users.id, n: users.referralsCount }).from(users);
    const others = (rows: { id: number; n: number }[]) => rows.filter((r) => r.id !== leaving.id).sort((a, b) => a.id - b.id);
    expect(others(countsAfter)).toEqual(others(countsBefore));
    expect((await rowOf(app, upstream.id)).referralsCount).toBe(1);
    const [upstreamRow] = await app.db.select().from(referrals).where(eq(referrals.referredUserId, leaving.id));
    expect(upstreamRow).toMatchObject({ referrerId: upstream.id, status: 'credited' });
    for (const friend of friends) expect((await rowOf(app, friend.id)).referredById).toBe(leaving.id);

    // The old credentials are dead, and the address is free again.
    expect((await login(app.request(), leaving.email)).status).toBe(401);
    const again = app.request();
    expect((await signup(again, { email: leaving.email, name: 'Xena Returns' })).status).toBe(303);
    const back = (await userByEmail(app.db, leaving.email))!;
    expect(back.id).not.toBe(leaving.id);
    expect(back.name).toBe('Xena Returns');
  });

  it('leaves the same row shape as the integration API participant delete', async () => {
    const app = fresh();
    const write = await apiKey(app, 'write');
    const viaAccount = await person(app, { name: 'Deleted By Form' });
    const viaApi = await bare(app)
      .post('/api/v1/participants')
      .set('Authorization', `Bearer ${write}`)
      .send({ email: uniqueEmail('api-del'), name: 'Deleted By Api' });
    expect(viaApi.status).toBe(201);
    const apiId = viaApi.body.id as number;

    expect((await post(viaAccount, '/account/delete', { current_password: STRONG_PASSWORD })).status).toBe(303);
    expect((await bare(app).delete(`/api/v1/participants/${apiId}`).set('Authorization', `Bearer ${write}`)).status).toBe(204);

    const shape = (row: User) => ({
      name: row.name,
      email: row.email,
      emailNormalized: row.emailNormalized.replace(String(row.id), '<id>'),
      passwordHash: row.passwordHash,
      status: row.status,
      notifyReferrals: row.notifyReferrals,
      deleted: row.deletedAt instanceof Date,
    });
    const a = shape(await rowOf(app, viaAccount.id));
    const b = shape(await rowOf(app, apiId));
    expect(a).toEqual(b);
    expect(a).toMatchObject({ name: 'Deleted user', email: '', status: 'disabled', deleted: true });
    for (const id of [viaAccount.id, apiId]) {
      expect(await app.db.select().from(sessions).where(eq(sessions.userId, id))).toEqual([]);
      expect(await app.db.select().from(userTokens).where(eq(userTokens.userId, id))).toEqual([]);
    }
  });
});

describe('admin profile edit', () => {
  let admin: Agent;
  beforeAll(async () => {
    admin = t.request();
    if (await userByEmail(t.db, ADMIN)) expect((await login(admin, ADMIN)).status).toBe(303);
    else expect((await signup(admin, { email: ADMIN, name: 'Account Boss' })).status).toBe(303);
  });

  const edit = async (agent: Agent, id: number, fields: Record<string, string>) => {
    const _csrf = await csrfFor(agent, '/dashboard');
    return agent
      .post(`/admin/users/${id}/profile`)
      .type('form')
      .send({ ...fields, _csrf });
  };

  it('shows the form on the user page', async () => {
    const p = await person();
    const res = await admin.get(`/admin/users/${p.id}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`action="/admin/users/${p.id}/profile"`);
  });

  it('changes name and email, and writes an audit row', async () => {
    const p = await person(t, { name: 'Before Edit' });
    const email = `Edited.${process.pid}@Example.com`;
    const res = await edit(admin, p.id, { name: 'After Edit', email });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/users/${p.id}`);
    const row = await rowOf(t, p.id);
    expect(row.name).toBe('After Edit');
    expect(row.email).toBe(email);
    expect(row.emailNormalized).toBe(email.toLowerCase());
    const audit = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'user.edit'), eq(auditLog.targetId, p.id)));
    expect(audit).toHaveLength(1);
    expect((await login(t.request(), email.toLowerCase())).status).toBe(303);
  });

  it.each([
    ['an empty name', { name: '', email: 'fine@example.com' }],
    ['a bidi character in the name', { name: 'Evil \u202Eeman', email: 'fine2@example.com' }],
    ['an invalid email', { name: 'Fine Name', email: 'not-an-email' }],
    ['a missing email', { name: 'Fine Name' }],
  ])('refuses %s with 400 and changes nothing', async (_label, fields) => {
    const p = await person(t, { name: 'Untouched Person' });
    const before = await rowOf(t, p.id);
    const auditBefore = await countOf(t.db, "select count(*) from audit_log where action = 'user.edit'");
    const res = await edit(admin, p.id, fields);
    expect(res.status).toBe(400);
    expect(await rowOf(t, p.id)).toEqual(before);
    expect(await countOf(t.db, "select count(*) from audit_log where action = 'user.edit'")).toBe(auditBefore);
  });

  it("refuses another account's email with 400 or 409", async () => {
    const p = await person();
    const other = await person();
    const res = await edit(admin, p.id, { name: 'Some Name', email: other.email.toUpperCase() });
    expect([400, 409]).toContain(res.status);
    expect((await rowOf(t, p.id)).email).toBe(p.email);
  });

  it('answers 403 to a non-admin and changes nothing', async () => {
    const p = await person(t, { name: 'Protected Person' });
    const attacker = await person();
    const res = await edit(attacker.agent, p.id, { name: 'Hacked', email: uniqueEmail('hacked') });
    expect(res.status).toBe(403);
    expect((await rowOf(t, p.id)).name).toBe('Protected Person');
  });

  it('answers 403 without a CSRF token', async () => {
    const p = await person(t, { name: 'Csrf Person' });
    const res = await admin
      .post(`/admin/users/${p.id}/profile`)
      .type('form')
      .send({ name: 'No Token', email: uniqueEmail('notoken') });
    expect(res.status).toBe(403);
    expect((await rowOf(t, p.id)).name).toBe('Csrf Person');
  });

  it('refuses duplicate fields with 400', async () => {
    const p = await person(t, { name: 'Dup Person' });
    const res = await postRaw({ agent: admin }, `/admin/users/${p.id}/profile`, `name=A&name=B&email=${encodeURIComponent(uniqueEmail('dup'))}`);
    expect(res.status).toBe(400);
    expect((await rowOf(t, p.id)).name).toBe('Dup Person');
  });
});

describe('hostile input on every account form', () => {
  const FORMS: [string, Record<string, string>, string][] = [
    ['/account/name', { name: 'Ada Lovelace' }, 'name'],
    ['/account/email', { email: 'hostile-target@example.com', current_password: STRONG_PASSWORD }, 'email'],
    ['/account/password', { current_password: STRONG_PASSWORD, password: NEW_PASSWORD }, 'password'],
    ['/account/privacy', { display: 'initials' }, 'display'],
    ['/account/code', { code: 'HOSTILE-CODE' }, 'code'],
    ['/account/delete', { current_password: STRONG_PASSWORD }, 'current_password'],
  ];

  /** What each form could change. */
  const state = async (p: Person) => {
    const row = await rowOf(t, p.id);
    return {
      name: row.name,
      email: row.email,
      hash: row.passwordHash,
      display: row.leaderboardDisplay,
      code: row.referralCode,
      deleted: row.deletedAt,
      queued: (await mails(t, 'email_change')).length,
    };
  };

  it.each(FORMS)('POST %s answers 403 without a CSRF token and changes nothing', async (path, fields) => {
    const p = await person();
    const before = await state(p);
    const res = await p.agent.post(path).type('form').send(fields);
    expect(res.status).toBe(403);
    expect(await state(p)).toEqual(before);
  });

  it.each(FORMS)('POST %s answers 400 to a duplicated field and changes nothing', async (path, fields, field) => {
    const p = await person();
    const before = await state(p);
    const body = Object.entries(fields)
      .flatMap(([k, v]) => (k === field ? [[k, v] as const, [k, v] as const] : [[k, v] as const]))
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&');
    const res = await postRaw(p, path, body);
    expect(res.status).toBe(400);
    expect(await state(p)).toEqual(before);
  });

  it.each(FORMS)('POST %s answers 400 to a very long value and changes nothing', async (path, fields, field) => {
    const p = await person();
    const before = await state(p);
    const res = await post(p, path, { ...fields, [field]: 'x'.repeat(20_000) });
    expect(res.status).toBe(400);
    expect(await state(p)).toEqual(before);
  });

  it('answers 403 to an anonymous POST', async () => {
    for (const [path, fields] of FORMS) expect((await t.request().post(path).type('form').send(fields)).status).toBe(403);
  });
});
