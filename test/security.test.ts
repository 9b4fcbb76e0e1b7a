import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp } from './helpers/app.js';
import { csrfFor, csrfFrom, login, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';
import { run } from './helpers/db.js';
import { bare, cookieHeader, countUsers, setCookies, signCookie } from './helpers/extra.js';

const t = makeTestApp();
afterAll(() => t.close());

let email: string;
beforeAll(async () => {
  email = uniqueEmail('sec');
  expect((await signup(t.request(), { email })).status).toBe(303);
});

function directives(csp: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name.toLowerCase(), values);
  }
  return map;
}

describe('security headers', () => {
  it("sends a CSP with object-src 'none', base-uri 'none' and frame-ancestors 'none'", async () => {
    const res = await t.request().get('/');
    const csp = directives(String(res.headers['content-security-policy']));
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
  });

  it("allows no inline script: script-src (or default-src) without 'unsafe-inline' or 'unsafe-eval'", async () => {
    const res = await t.request().get('/auth/signup');
    const csp = directives(String(res.headers['content-security-policy']));
    const scriptSrc = csp.get('script-src') ?? csp.get('default-src');
    expect(scriptSrc).toBeDefined();
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(scriptSrc).not.toContain("'unsafe-eval'");
    expect(scriptSrc).not.toContain('*');
  });

  it('renders pages without inline <script> blocks', async () => {
    for (const path of ['/', '/auth/signup', '/auth/login']) {
      const res = await t.request().get(path);
      expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    }
  });

  it('sends no X-Powered-By header', async () => {
    const res = await t.request().get('/');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('sends nosniff and refuses framing', async () => {
    const res = await t.request().get('/');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(String(res.headers['x-frame-options']).toUpperCase()).toBe('DENY');
  });

  it('sends Cache-Control: no-store on the dashboard', async () => {
    const agent = t.request();
    await login(agent, email);
    const res = await agent.get('/dashboard');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toMatch(/no-store/);
  });

  it('sends Cache-Control: no-store on the sign-up success page', async () => {
    const agent = t.request();
    await signup(agent);
    const res = await agent.get('/auth/signup/success');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toMatch(/no-store/);
  });
});

describe('anonymous pages set no cookie', () => {
  it.each(['/', '/healthz', '/no-such-page'])('GET %s sets no cookie', async (path) => {
    const res = await bare(t).get(path);
    expect([200, 404]).toContain(res.status);
    expect(setCookies(res)).toEqual([]);
  });
});

describe('CSRF', () => {
  it('answers 403 to a sign-up POST without _csrf and creates nothing', async () => {
    const agent = t.request();
    await agent.get('/auth/signup');
    const target = uniqueEmail('nocsrf');
    const res = await agent.post('/auth/signup').type('form').send({ name: 'No Token', email: target, password: STRONG_PASSWORD });
    expect(res.status).toBe(403);
    expect(await countUsers(t, target)).toBe(0);
  });

  it('answers 403 to a login POST without _csrf and does not log in', async () => {
    const agent = t.request();
    await agent.get('/auth/login');
    const res = await agent.post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD });
    expect(res.status).toBe(403);
    expect((await agent.get('/dashboard')).status).toBe(302);
  });

  it('answers 403 to a wrong _csrf value', async () => {
    const agent = t.request();
    const real = await csrfFor(agent, '/auth/signup');
    const target = uniqueEmail('wrongcsrf');
    const res = await agent
      .post('/auth/signup')
      .type('form')
      .send({ name: 'Wrong', email: target, password: STRONG_PASSWORD, _csrf: `${real.slice(0, -2)}xx` });
    expect(res.status).toBe(403);
    expect(await countUsers(t, target)).toBe(0);
  });

  it("answers 403 to a token taken from another visitor's browser", async () => {
    const attacker = t.request();
    const foreign = await csrfFor(attacker, '/auth/signup');
    const victim = t.request();
    await victim.get('/auth/signup');
    const target = uniqueEmail('foreign');
    const res = await victim.post('/auth/signup').type('form').send({ name: 'Foreign', email: target, password: STRONG_PASSWORD, _csrf: foreign });
    expect(res.status).toBe(403);
    expect(await countUsers(t, target)).toBe(0);
  });

  it('answers 403 to a valid-looking token sent without its CSRF cookie', async () => {
    const other = t.request();
    const token = await csrfFor(other, '/auth/login');
    const res = await bare(t).post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD, _csrf: token });
    expect(res.status).toBe(403);
  });

  it('answers 403 to a logout POST without a token and keeps the user logged in', async () => {
    const agent = t.request();
    await login(agent, email);
    const res = await agent.post('/auth/logout').type('form').send({});
    expect(res.status).toBe(403);
    expect((await agent.get('/dashboard')).status).toBe(200);
  });

  it('accepts a JSON logout with the token in x-csrf-token', async () => {
    const agent = t.request();
    await login(agent, email);
    const token = await csrfFor(agent, '/dashboard');
    const res = await agent.post('/auth/logout').set('x-csrf-token', token).send({});
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    expect((await agent.get('/dashboard')).status).toBe(302);
  });

  it('answers 403 to a JSON logout without x-csrf-token', async () => {
    const agent = t.request();
    await login(agent, email);
    const res = await agent.post('/auth/logout').set('content-type', 'application/json').send('{}');
    expect(res.status).toBe(403);
    expect((await agent.get('/dashboard')).status).toBe(200);
  });
});

describe('Origin check', () => {
  it('answers 403 to a cross-site Origin on POST /auth/login even with a valid token', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').set('Origin', 'https://evil.example').type('form').send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(403);
    expect((await agent.get('/dashboard')).status).toBe(302);
  });

  it('answers 403 to a cross-site Origin on POST /auth/signup even with a valid token', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/signup');
    const target = uniqueEmail('xsite');
    const res = await agent
      .post('/auth/signup')
      .set('Origin', 'https://evil.example')
      .type('form')
      .send({ name: 'Cross', email: target, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(403);
    expect(await countUsers(t, target)).toBe(0);
  });

  it('answers 403 to Origin: null (sandboxed or file: pages)', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').set('Origin', 'null').type('form').send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(403);
  });

  it('answers 403 to a look-alike origin (http://localhost:3000.evil.example)', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent
      .post('/auth/login')
      .set('Origin', 'http://localhost:3000.evil.example')
      .type('form')
      .send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(403);
  });

  it('answers 403 when the browser marks the POST Sec-Fetch-Site: cross-site', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').set('Sec-Fetch-Site', 'cross-site').type('form').send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(403);
  });

  it('accepts the same Origin as BASE_URL (http://localhost:3000)', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').set('Origin', 'http://localhost:3000').type('form').send({ email, password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard');
  });
});

describe('health, 404 and malformed bodies', () => {
  it('GET /healthz answers 200 {status:"ok"}', async () => {
    const res = await t.request().get('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/json/);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('renders a 404 page for an unknown route', async () => {
    const res = await t.request().get('/definitely/not/here');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/html/);
    expect(res.text).toMatch(/not found/i);
  });

  it('answers a JSON 404 to a client that asks for JSON', async () => {
    const res = await t.request().get('/api/nope').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body).toHaveProperty('error');
  });

  it('answers 400, not 500, to malformed JSON', async () => {
    const agent = t.request();
    const token = await csrfFor(agent, '/auth/login');
    const res = await agent.post('/auth/login').set('content-type', 'application/json').set('x-csrf-token', token).send('{"email": "a@b.c",');
    expect(res.status).toBe(400);
  });

  it('answers 413 to a JSON body over 100 kB', async () => {
    const agent = t.request();
    const token = await csrfFor(agent, '/auth/signup');
    const target = uniqueEmail('bigjson');
    const res = await agent
      .post('/auth/signup')
      .set('x-csrf-token', token)
      .send({ name: 'x'.repeat(101 * 1024), email: target, password: STRONG_PASSWORD });
    expect(res.status).toBe(413);
    expect(await countUsers(t, target)).toBe(0);
  });

  it('answers 413 to an oversized form on the login route too', async () => {
    const res = await t
      .request()
      .post('/auth/login')
      .type('form')
      .send({ email: 'x'.repeat(120 * 1024), password: 'whatever' });
    expect(res.status).toBe(413);
  });

  it('shows no stack trace or file path in an error page', async () => {
    const res = await t.request().post('/auth/login').set('content-type', 'application/json').send('{oops');
    expect(res.status).toBe(400);
    expect(res.text).not.toMatch(/node_modules|\/src\/|at [\w.]+ \(/);
  });
});

describe('production mode', () => {
  const prod = makeTestApp({ NODE_ENV: 'production', BASE_URL: 'https://refer.example', TRUST_PROXY: '1' });
  afterAll(() => prod.close());

  it('names the CSRF cookie of a form __Host-csrf: Secure, HttpOnly, SameSite=Lax, Path=/, a few hours, no Domain; no session yet', async () => {
    const res = await prod.request().get('/auth/login').set('X-Forwarded-Proto', 'https');
    expect(res.status).toBe(200);
    const line = setCookies(res).find((l) => l.startsWith('__Host-csrf='));
    expect(line).toBeDefined();
    expect(line).toMatch(/;\s*Secure/i);
    expect(line).toMatch(/;\s*HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
    expect(line).toMatch(/Path=\/(;|$)/);
    expect(line).toMatch(/Max-Age=14400/);
    expect(line).not.toMatch(/Domain=/i);
    expect(setCookies(res).some((l) => /^(__Host-)?sid=/.test(l) || l.startsWith('csrf='))).toBe(false);
  });

  it('names the session cookie __Host-sid and marks it Secure, HttpOnly, SameSite=Lax, Path=/ without Domain', async () => {
    const form = await bare(prod).get('/auth/signup').set('X-Forwarded-Proto', 'https');
    const res = await bare(prod)
      .post('/auth/signup')
      .set('X-Forwarded-Proto', 'https')
      .set('Origin', 'https://refer.example')
      .set('Cookie', cookieHeader(form))
      .type('form')
      .send({ name: 'Prod User', email: uniqueEmail('prod'), password: STRONG_PASSWORD, _csrf: csrfFrom(form.text) });
    expect(res.status).toBe(303);
    const line = setCookies(res).find((l) => l.startsWith('__Host-sid='));
    expect(line).toBeDefined();
    expect(line).toMatch(/;\s*Secure/i);
    expect(line).toMatch(/;\s*HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
    expect(line).toMatch(/Path=\/(;|$)/);
    expect(line).not.toMatch(/Domain=/i);
    expect(setCookies(res).some((l) => l.startsWith('sid='))).toBe(false);
  });

  it('sends Strict-Transport-Security when BASE_URL is https', async () => {
    const res = await prod.request().get('/').set('X-Forwarded-Proto', 'https');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
  });

  it('shows a 500 page without stack trace or file paths', async () => {
    await run(prod.db, 'drop table sessions');
    const cookie = encodeURIComponent(signCookie('some-session-id', prod.config.sessionSecret));
    const res = await prod.request().get('/').set('X-Forwarded-Proto', 'https').set('Cookie', `__Host-sid=${cookie}`);
    expect(res.status).toBe(500);
    expect(res.text).not.toMatch(/node_modules|\/src\/|\.ts:\d+|at [\w.<>]+ \(|no such table|SqliteError|relation "sessions" does not exist/i);
  });
});

describe('health when the database is gone', () => {
  it('GET /healthz answers 503, not 200, when the database does not answer', async () => {
    const broken = makeTestApp();
    try {
      expect((await broken.request().get('/healthz')).status).toBe(200);
      await broken.database.close();
      // A good probe answers every health check of the same second.
      await new Promise((r) => setTimeout(r, 1_100));
      const res = await broken.request().get('/healthz');
      expect(res.status).toBe(503);
      expect(res.body.status).not.toBe('ok');
    } finally {
      await broken.close();
    }
  });
});
