import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBcryptHasher } from '../src/modules/auth/password-hasher.js';
import { makeTestApp } from './helpers/app.js';
import { csrfFor, csrfFrom, login, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';
import { bare, cookieHeader, cookieValue, formError, inputValue, sessionIdOf, sessionRow, setCookieLine, setUserStatus, signCookie } from './helpers/extra.js';
import { userByEmail } from './helpers/db.js';

// The real hasher, with every bcrypt comparison recorded (whether it had a real hash).
const realHasher = createBcryptHasher({ cost: 4, concurrency: 2 });
const compares: Array<'real' | 'dummy'> = [];
const t = makeTestApp(
  {},
  {
    hasher: {
      hash: (p) => realHasher.hash(p),
      verify: (p, h) => {
        compares.push(h === undefined ? 'dummy' : 'real');
        return realHasher.verify(p, h);
      },
      close: () => realHasher.close(),
    },
  },
);
afterAll(() => t.close());

const SECRET = t.config.sessionSecret;
let email: string;

beforeAll(async () => {
  email = uniqueEmail('member');
  const res = await signup(t.request(), { name: 'Member Mo', email });
  expect(res.status).toBe(303);
});

async function loginWithNext(next: string) {
  const agent = t.request();
  const _csrf = await csrfFor(agent, '/auth/login');
  return agent.post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD, next, _csrf });
}

describe('POST /auth/login', () => {
  it('logs in with 303 to /dashboard and the dashboard shows the member', async () => {
    const agent = t.request();
    const res = await login(agent, email);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
    const dash = await agent.get('/dashboard');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('Member Mo');
    expect(dash.text).toContain(`http://localhost:3000/r/${(await userByEmail(t.db, email))!.referralCode}`);
  });

  it('shows a flash message on the dashboard after logging in', async () => {
    const agent = t.request();
    await login(agent, email);
    const dash = await agent.get('/dashboard');
    expect(dash.text).toMatch(/class="flash flash-success"[^>]*>[^<]*logged in/i);
  });

  it('accepts the email in any case and with surrounding spaces', async () => {
    const res = await login(t.request(), `  ${email.toUpperCase()}  `);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
  });

  it('honours a same-site next path carried from GET /auth/login?next=', async () => {
    const agent = t.request();
    const form = await agent.get(`/auth/login?next=${encodeURIComponent('/referral/leaderboard?page=2')}`);
    const next = inputValue(form.text, 'next');
    expect(next).toBe('/referral/leaderboard?page=2');
    const _csrf = csrfFrom(form.text);
    const res = await agent.post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD, next, _csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/referral/leaderboard?page=2');
  });

  it("redirects to next='/referral/leaderboard?page=2' after login", async () => {
    const res = await loginWithNext('/referral/leaderboard?page=2');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/referral/leaderboard?page=2');
  });

  it('honours next given in the query string of the POST', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent
      .post(`/auth/login?next=${encodeURIComponent('/dashboard?tab=rewards')}`)
      .type('form')
      .send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard?tab=rewards');
  });

  it.each(['//evil.com', 'https://evil.com', '/\\evil.com', 'javascript:alert(1)', '\\\\evil.com', '/\t/evil.com', 'http:evil.com'])(
    'refuses the open redirect next=%j and goes to /dashboard',
    async (next) => {
      const res = await loginWithNext(next);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/dashboard');
    },
  );

  it("keeps next='/%2F%2Fevil.com' on this site", async () => {
    const res = await loginWithNext('/%2F%2Fevil.com');
    expect(res.status).toBe(303);
    const location = String(res.headers.location);
    expect(location.startsWith('/')).toBe(true);
    expect(location.startsWith('//')).toBe(false);
    expect(new URL(location, 'http://localhost:3000').origin).toBe('http://localhost:3000');
  });

  it('does not render an off-site next into the login form', async () => {
    const res = await t.request().get('/auth/login?next=https%3A%2F%2Fevil.com');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('evil.com');
  });

  it('answers 401 with one generic message for a wrong password and for an unknown email', async () => {
    const wrong = await login(t.request(), email, 'not the right password at all');
    const unknown = await login(t.request(), uniqueEmail('nobody'), 'not the right password at all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const a = formError(wrong.text);
    const b = formError(unknown.text);
    expect(a).toBeDefined();
    expect(a).toBe(b);
    expect(a).not.toMatch(/no account|not found|unknown|exists/i);
  });

  it('runs bcrypt for an unknown email just as for a wrong password (same timing path)', async () => {
    compares.length = 0;
    await login(t.request(), email, 'wrong password, sorry');
    expect(compares).toEqual(['real']);
    compares.length = 0;
    await login(t.request(), uniqueEmail('ghost'), 'wrong password, sorry');
    // One full bcrypt comparison against a dummy hash of the same cost.
    expect(compares).toEqual(['dummy']);
  });

  it('does not log in after a wrong password', async () => {
    const agent = t.request();
    await login(agent, email, 'wrong password, sorry');
    const dash = await agent.get('/dashboard');
    expect(dash.status).toBe(302);
  });

  it('does not re-render the submitted password after a failed login', async () => {
    const res = await login(t.request(), email, 'UniqueWrongPw123');
    expect(res.status).toBe(401);
    expect(res.text).not.toContain('UniqueWrongPw123');
    expect(inputValue(res.text, 'email')).toBe(email);
  });

  it('answers 400 (not 401 or 500) when the password field is missing', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').type('form').send({ email, _csrf });
    expect(res.status).toBe(400);
  });

  it('answers 400, not 500, to an array in the email field', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent
      .post('/auth/login')
      .type('form')
      .send(`email=${encodeURIComponent(email)}&email=x%40y.com&password=abc&_csrf=${encodeURIComponent(_csrf)}`);
    expect(res.status).toBe(400);
  });

  it('refuses a disabled account even with the right password', async () => {
    const disabled = uniqueEmail('disabled');
    await signup(t.request(), { email: disabled });
    await setUserStatus(t, disabled, 'disabled');
    const agent = t.request();
    const res = await login(agent, disabled);
    expect(res.status).toBe(401);
    expect((await agent.get('/dashboard')).status).toBe(302);
  });

  it('ends the existing session of an account once it is disabled', async () => {
    const victim = uniqueEmail('disabled-later');
    const agent = t.request();
    await signup(agent, { email: victim });
    expect((await agent.get('/dashboard')).status).toBe(200);
    await setUserStatus(t, victim, 'disabled');
    const res = await agent.get('/dashboard');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/auth/login?next=%2Fdashboard');
  });

  it('redirects a logged-in user away from the login form', async () => {
    const agent = t.request();
    await login(agent, email);
    const res = await agent.get('/auth/login');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/dashboard');
  });
});

describe('sessions', () => {
  it('sets no session cookie on the login form: only the login does', async () => {
    const form = await t.request().get('/auth/login');
    expect(form.status).toBe(200);
    expect(cookieValue(form, 'sid')).toBeUndefined();
    const res = await login(t.request(), email);
    expect(cookieValue(res, 'sid')).toBeDefined();
  });

  it('issues a new session id at login (session fixation)', async () => {
    // A session id the browser already holds (an old-style anonymous session, or one an
    // attacker planted): a real row, correctly signed.
    const planted = 'planted-session-id';
    await new Promise<void>((resolve, reject) =>
      t.sessionStore.set(planted, { cookie: { originalMaxAge: 3_600_000, expires: new Date(t.clock.now().getTime() + 3_600_000) } }, (err) =>
        err ? reject(new Error('session store failed', { cause: err })) : resolve(),
      ),
    );
    const before = encodeURIComponent(signCookie(planted, SECRET));
    const form = await bare(t).get('/auth/login').set('Cookie', `sid=${before}`);
    const res = await bare(t)
      .post('/auth/login')
      .set('Cookie', `sid=${before}; ${cookieHeader(form)}`)
      .type('form')
      .send({ email, password: STRONG_PASSWORD, _csrf: csrfFrom(form.text) });
    expect(res.status).toBe(303);
    const after = cookieValue(res, 'sid');
    expect(after).toBeDefined();
    expect(sessionIdOf(after!)).not.toBe(planted);
    // The planted id is worthless: it neither exists nor authenticates.
    expect(await sessionRow(t, planted)).toBeUndefined();
    const replay = await bare(t).get('/dashboard').set('Cookie', `sid=${before}`);
    expect(replay.status).toBe(302);
  });

  it('stores the login session in the database linked to the user', async () => {
    const res = await login(t.request(), email);
    const sid = sessionIdOf(cookieValue(res, 'sid')!);
    expect((await sessionRow(t, sid))?.userId).toBe((await userByEmail(t.db, email))!.id);
  });

  it('sets the session cookie httpOnly, SameSite=Lax, Path=/ and not Secure outside production', async () => {
    const res = await login(t.request(), email);
    const line = setCookieLine(res, 'sid')!;
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
    expect(line).toMatch(/Path=\//);
    expect(line).not.toMatch(/Secure/i);
  });

  it('logout destroys the session: 303 to /, and the old cookie no longer opens the dashboard', async () => {
    const agent = t.request();
    const res = await login(agent, email);
    const cookie = cookieValue(res, 'sid')!;
    const _csrf = await csrfFor(agent, '/dashboard');
    const out = await agent.post('/auth/logout').type('form').send({ _csrf });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/');
    expect(await sessionRow(t, sessionIdOf(cookie))).toBeUndefined();
    const replay = await bare(t).get('/dashboard').set('Cookie', `sid=${cookie}`);
    expect(replay.status).toBe(302);
    expect(replay.headers.location).toBe('/auth/login?next=%2Fdashboard');
  });

  it('shows a flash message on the page after logout', async () => {
    const agent = t.request();
    await login(agent, email);
    const _csrf = await csrfFor(agent, '/dashboard');
    await agent.post('/auth/logout').type('form').send({ _csrf });
    const home = await agent.get('/');
    expect(home.text).toMatch(/logged out/i);
  });

  it('treats a session cookie signed with the real secret as logged in (control for the forgery tests)', async () => {
    const res = await login(t.request(), email);
    const sid = sessionIdOf(cookieValue(res, 'sid')!);
    const ok = await bare(t)
      .get('/dashboard')
      .set('Cookie', `sid=${encodeURIComponent(signCookie(sid, SECRET))}`);
    expect(ok.status).toBe(200);
  });

  it('treats a real session id signed with another secret as anonymous', async () => {
    const res = await login(t.request(), email);
    const sid = sessionIdOf(cookieValue(res, 'sid')!);
    const forged = signCookie(sid, 'some-other-secret-some-other-secret-00');
    const dash = await bare(t)
      .get('/dashboard')
      .set('Cookie', `sid=${encodeURIComponent(forged)}`);
    expect(dash.status).toBe(302);
  });

  it('treats an unsigned session id as anonymous', async () => {
    const res = await login(t.request(), email);
    const sid = sessionIdOf(cookieValue(res, 'sid')!);
    const dash = await bare(t)
      .get('/dashboard')
      .set('Cookie', `sid=${encodeURIComponent(sid)}`);
    expect(dash.status).toBe(302);
  });

  it('treats a garbage session cookie as anonymous without an error', async () => {
    const dash = await bare(t).get('/dashboard').set('Cookie', 'sid=s%3Aforged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(dash.status).toBe(302);
    const home = await bare(t).get('/').set('Cookie', 'sid=%E0%A4%A');
    expect(home.status).toBe(200);
  });

  it('sends anonymous dashboard visitors to login with next=/dashboard', async () => {
    const res = await t.request().get('/dashboard');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/auth/login?next=%2Fdashboard');
  });
});
