import { count } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { rateLimits, sessions } from '../src/db/schema.js';
import { SessionStore } from '../src/db/session-store.js';
import { pruneRateLimits } from '../src/http/rate-limit.js';
import { makeTestApp } from './helpers/app.js';
import { userByEmail } from './helpers/db.js';
import { bare, cookieHeader, cookieValue, countUsers, CSRF_COOKIE, sessionIdOf, sessionRow, setCookieLine, setCookies } from './helpers/extra.js';
import { csrfFor, csrfFrom, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';

const t = makeTestApp();
afterAll(() => t.close());

const FORM_EXPIRED = 'Your form expired or was sent from somewhere else. Reload the page and try again.';

async function sessionCount(): Promise<number> {
  const [row] = await t.db.select({ n: count() }).from(sessions);
  return row!.n;
}

/** What a browser without any cookie gets from a form page: the form's token and the cookies to send back. */
async function freshForm(path: string) {
  const res = await bare(t).get(path);
  expect(res.status).toBe(200);
  return { res, token: csrfFrom(res.text), csrfCookie: cookieValue(res, CSRF_COOKIE), cookie: cookieHeader(res) };
}

function postForm(path: string, cookie: string | undefined, fields: Record<string, string>) {
  const req = bare(t).post(path).type('form');
  if (cookie) req.set('Cookie', cookie);
  return req.send(fields);
}

describe('viewing forms stores no session', () => {
  it('300 cookieless GETs of the login and sign-up forms add no session row, yet every form works', async () => {
    const before = await sessionCount();
    const paths = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? '/auth/signup' : '/auth/login'));
    const pages: Array<Awaited<ReturnType<typeof freshForm>> & { path: string }> = [];
    for (let i = 0; i < paths.length; i += 20) {
      const batch = paths.slice(i, i + 20);
      pages.push(...(await Promise.all(batch.map(async (path) => ({ path, ...(await freshForm(path)) })))));
    }
    expect(await sessionCount()).toBe(before);
    for (const page of pages) {
      expect(setCookieLine(page.res, 'sid')).toBeUndefined();
      expect(page.csrfCookie).toBeDefined();
    }
    // Each browser got a token of its own.
    expect(new Set(pages.map((p) => p.token)).size).toBe(pages.length);

    // Every page's form passes the CSRF check (an empty form is then refused with 400, not 403)…
    for (let i = 0; i < pages.length; i += 20) {
      const statuses = await Promise.all(pages.slice(i, i + 20).map((p) => postForm(p.path, p.cookie, { _csrf: p.token }).then((r) => r.status)));
      expect(statuses.every((s) => s === 400)).toBe(true);
    }
    // …and none of that stored a session either.
    expect(await sessionCount()).toBe(before);

    // A real sign-up and a real login from two of those pages.
    const email = uniqueEmail('fresh');
    const signupPage = pages.find((p) => p.path === '/auth/signup')!;
    const joined = await postForm('/auth/signup', signupPage.cookie, { name: 'Fresh Browser', email, password: STRONG_PASSWORD, _csrf: signupPage.token });
    expect(joined.status).toBe(303);
    expect(joined.headers.location).toBe('/auth/signup/success');
    expect(await sessionCount()).toBe(before + 1);

    const loginPage = pages.find((p) => p.path === '/auth/login')!;
    const loggedIn = await postForm('/auth/login', loginPage.cookie, { email, password: STRONG_PASSWORD, _csrf: loginPage.token });
    expect(loggedIn.status).toBe(303);
    expect(loggedIn.headers.location).toBe('/dashboard');
    const sid = sessionIdOf(cookieValue(loggedIn, 'sid')!);
    expect((await sessionRow(t, sid))?.userId).toBe((await userByEmail(t.db, email))!.id);
    expect(await sessionCount()).toBe(before + 2);
  });

  it('a failed login stores no session either', async () => {
    const before = await sessionCount();
    const page = await freshForm('/auth/login');
    const res = await postForm('/auth/login', page.cookie, { email: uniqueEmail('nobody'), password: 'not the right password', _csrf: page.token });
    expect(res.status).toBe(401);
    expect(setCookieLine(res, 'sid')).toBeUndefined();
    expect(await sessionCount()).toBe(before);
  });

  it('sets the CSRF cookie httpOnly, SameSite=Lax, Path=/, for a few hours, not Secure outside production', async () => {
    const { res } = await freshForm('/auth/signup');
    const line = setCookieLine(res, CSRF_COOKIE)!;
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
    expect(line).toMatch(/Path=\/(;|$)/);
    expect(line).toMatch(/Max-Age=14400/);
    expect(line).not.toMatch(/Secure/i);
    expect(line).not.toMatch(/Domain=/i);
  });

  it('sets no CSRF cookie on pages without a form', async () => {
    for (const path of ['/', '/referral/leaderboard', '/api/leaderboard', '/healthz', '/no-such-page']) {
      expect(setCookies(await bare(t).get(path))).toEqual([]);
    }
  });

  it('gives every form of a browser the same token, so several tabs keep working', async () => {
    const agent = t.request();
    const first = await csrfFor(agent, '/auth/login');
    const second = await csrfFor(agent, '/auth/signup');
    expect(second).toBe(first);
    const email = uniqueEmail('tabs');
    const res = await agent.post('/auth/signup').type('form').send({ name: 'Two Tabs', email, password: STRONG_PASSWORD, _csrf: first });
    expect(res.status).toBe(303);
  });
});

describe('the pre-login CSRF cookie refuses what it must', () => {
  it('answers 403 to a form without its token, and creates nothing', async () => {
    const page = await freshForm('/auth/signup');
    const email = uniqueEmail('notoken');
    const res = await postForm('/auth/signup', page.cookie, { name: 'No Token', email, password: STRONG_PASSWORD });
    expect(res.status).toBe(403);
    expect(res.text).toContain(FORM_EXPIRED);
    expect(await countUsers(t, email)).toBe(0);
  });

  it('answers 403 to the token without its cookie', async () => {
    const page = await freshForm('/auth/signup');
    const email = uniqueEmail('nocookie');
    const res = await postForm('/auth/signup', undefined, { name: 'No Cookie', email, password: STRONG_PASSWORD, _csrf: page.token });
    expect(res.status).toBe(403);
    expect(await countUsers(t, email)).toBe(0);
  });

  it("answers 403 to a token from another browser's page (another cookie jar)", async () => {
    const attacker = await freshForm('/auth/signup');
    const victim = await freshForm('/auth/signup');
    const email = uniqueEmail('foreign');
    const res = await postForm('/auth/signup', victim.cookie, { name: 'Foreign', email, password: STRONG_PASSWORD, _csrf: attacker.token });
    expect(res.status).toBe(403);
    expect(res.text).toContain(FORM_EXPIRED);
    expect(await countUsers(t, email)).toBe(0);
    // The same with agents, as two real browsers.
    const a = t.request();
    const b = t.request();
    const tokenA = await csrfFor(a, '/auth/login');
    await b.get('/auth/login');
    expect((await b.post('/auth/login').type('form').send({ email: 'x@example.com', password: STRONG_PASSWORD, _csrf: tokenA })).status).toBe(403);
  });

  it('answers 403 to a tampered cookie, and to a cookie and token forged together', async () => {
    const page = await freshForm('/auth/signup');
    const value = page.csrfCookie!;
    const flipped = `${value[0] === 'a' ? 'b' : 'a'}${value.slice(1)}`;
    const email = uniqueEmail('tampered');
    const fields = { name: 'Tampered', email, password: STRONG_PASSWORD };
    const others = page.cookie
      .split('; ')
      .filter((c) => !c.startsWith(`${CSRF_COOKIE}=`))
      .join('; ');
    const tampered = await postForm('/auth/signup', `${others}; ${CSRF_COOKIE}=${flipped}`, { ...fields, _csrf: page.token });
    expect(tampered.status).toBe(403);
    // Both changed alike: they match, but the signature does not.
    const forged = await postForm('/auth/signup', `${others}; ${CSRF_COOKIE}=${flipped}`, { ...fields, _csrf: decodeURIComponent(flipped) });
    expect(forged.status).toBe(403);
    const madeUp = `${'0'.repeat(64)}.${'1'.repeat(64)}`;
    expect((await postForm('/auth/signup', `${CSRF_COOKIE}=${madeUp}`, { ...fields, _csrf: madeUp })).status).toBe(403);
    // A signed-cookie or JSON-cookie shape is refused too, and a form page replaces it.
    expect((await postForm('/auth/signup', `${CSRF_COOKIE}=j%3A%7B%7D`, { ...fields, _csrf: 'j:{}' })).status).toBe(403);
    const replaced = await bare(t).get('/auth/signup').set('Cookie', `${CSRF_COOKIE}=j%3A%7B%7D`);
    expect(replaced.status).toBe(200);
    expect(cookieValue(replaced, CSRF_COOKIE)).toBe(encodeURIComponent(csrfFrom(replaced.text)));
    expect(await countUsers(t, email)).toBe(0);
  });
});

describe('after login the token is bound to the session', () => {
  it('refuses the pre-login token once logged in, and issues a new one bound to the session', async () => {
    const email = uniqueEmail('bound');
    expect((await signup(t.request(), { email })).status).toBe(303);
    const agent = t.request();
    const before = await csrfFor(agent, '/auth/login');
    expect((await agent.post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD, _csrf: before })).status).toBe(303);
    // The form that was sent worked; its token is now worthless.
    const stale = await agent.post('/auth/logout').type('form').send({ _csrf: before });
    expect(stale.status).toBe(403);
    expect((await agent.get('/dashboard')).status).toBe(200);
    const after = await csrfFor(agent, '/dashboard');
    expect(after).not.toBe(before);
    expect((await agent.post('/auth/logout').type('form').send({ _csrf: after })).status).toBe(303);
    expect((await agent.get('/dashboard')).status).toBe(302);
  });

  it("a form rendered for one user does not validate for another, even with that user's CSRF cookie", async () => {
    const a = t.request();
    const b = t.request();
    await signup(a, { name: 'User A' });
    const bSid = cookieValue(await signup(b, { name: 'User B' }), 'sid')!;
    const dashA = await a.get('/dashboard');
    const tokenA = csrfFrom(dashA.text);
    const csrfA = cookieValue(dashA, CSRF_COOKIE);
    expect(csrfA).toBeDefined();
    // B's session with A's CSRF cookie and A's token: the signature names A's session.
    const forged = await bare(t).post('/auth/logout').set('Cookie', `sid=${bSid}; ${CSRF_COOKIE}=${csrfA!}`).type('form').send({ _csrf: tokenA });
    expect(forged.status).toBe(403);
    expect((await b.get('/dashboard')).status).toBe(200);
    expect((await a.post('/auth/logout').type('form').send({ _csrf: tokenA })).status).toBe(303);
  });

  it('logout clears the CSRF cookie with the session', async () => {
    const agent = t.request();
    await signup(agent);
    const token = await csrfFor(agent, '/dashboard');
    const out = await agent.post('/auth/logout').type('form').send({ _csrf: token });
    expect(out.status).toBe(303);
    expect(setCookieLine(out, CSRF_COOKIE)).toMatch(/Expires=Thu, 01 Jan 1970/);
  });
});

describe('pruning', () => {
  async function seed(prefix: string) {
    const email = uniqueEmail(prefix);
    await signup(t.request(), { email });
    const userId = (await userByEmail(t.db, email))!.id;
    const now = t.clock.now().getTime();
    const real = Date.now();
    await t.database.transaction(async (tx) => {
      await tx.insert(sessions).values([
        { sid: `${prefix}-expired`, userId, expiresAt: now - 1000, data: '{}' },
        { sid: `${prefix}-legacy`, userId: null, expiresAt: now + 86_400_000, data: '{"csrfToken":"x"}' },
        { sid: `${prefix}-live`, userId, expiresAt: now + 86_400_000, data: '{}' },
      ]);
      await tx.insert(rateLimits).values([
        { key: `${prefix}:old`, points: 3, expire: real - 1000 },
        { key: `${prefix}:current`, points: 1, expire: real + 3_600_000 },
      ]);
    });
  }

  async function left(prefix: string) {
    const sids = (await t.db.select({ sid: sessions.sid }).from(sessions)).map((r) => r.sid).filter((s) => s.startsWith(prefix));
    const keys = (await t.db.select({ key: rateLimits.key }).from(rateLimits)).map((r) => r.key).filter((k) => k.startsWith(prefix));
    return { sids: sids.sort(), keys: keys.sort() };
  }

  it('deletes expired sessions, sessions without a user and expired rate-limit counters', async () => {
    await seed('manual');
    expect(await t.sessionStore.prune()).toBeGreaterThanOrEqual(2);
    expect(await left('manual')).toEqual({ sids: ['manual-live'], keys: ['manual:current'] });
  });

  it('runs on its own schedule when given an interval', async () => {
    await seed('timer');
    let errors = 0;
    const store = new SessionStore(t.database, {
      defaultMaxAgeMs: 60_000,
      now: () => t.clock.now().getTime(),
      pruneIntervalMs: 20,
      alsoPrune: [() => pruneRateLimits(t.database)],
      onPruneError: () => (errors += 1),
    });
    try {
      const deadline = Date.now() + 5000;
      while ((await left('timer')).sids.length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 60));
      expect(await left('timer')).toEqual({ sids: ['timer-live'], keys: ['timer:current'] });
      expect(errors).toBe(0);
    } finally {
      store.close();
    }
  });
});
