import { afterAll, describe, expect, it } from 'vitest';
import type supertest from 'supertest';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { csrfFor, login, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';
import { clientKey } from '../src/http/rate-limit.js';
import { closeSiblings, countUsers, siblingApp } from './helpers/extra.js';

const apps: TestApp[] = [];
function app(env: Parameters<typeof makeTestApp>[0]): TestApp {
  const t = makeTestApp(env);
  apps.push(t);
  return t;
}
afterAll(async () => {
  await closeSiblings();
  for (const t of apps) await t.close();
});

const WRONG = 'definitely the wrong password';

/** One failed login through the real form, optionally from a claimed X-Forwarded-For. */
async function failLogin(t: TestApp, email: string, xff?: string): Promise<supertest.Response> {
  const agent = t.request();
  const _csrf = await csrfFor(agent, '/auth/login');
  const req = agent.post('/auth/login').type('form');
  if (xff) req.set('X-Forwarded-For', xff);
  return req.send({ email, password: WRONG, _csrf });
}

async function statuses(n: number, attempt: (i: number) => Promise<supertest.Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await attempt(i)).status);
  return out;
}

describe('failed logins per email + IP', () => {
  const t = app({ RATE_LOGIN_PER_EMAIL_IP: '10', RATE_LOGIN_PER_IP: '15' });
  const email = uniqueEmail('victim');
  const other = uniqueEmail('other');

  it('allows 10 failed logins for one email from one IP, then answers the 11th with 429 and Retry-After', async () => {
    expect((await signup(t.request(), { email })).status).toBe(303);
    const first = await statuses(10, () => failLogin(t, email));
    expect(first).toEqual(Array(10).fill(401));
    const eleventh = await failLogin(t, email);
    expect(eleventh.status).toBe(429);
    const retry = Number(eleventh.headers['retry-after']);
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(15 * 60);
  });

  it('keeps refusing that email from that IP, even with the right password', async () => {
    const res = await login(t.request(), email, STRONG_PASSWORD);
    expect(res.status).toBe(429);
  });

  it('still lets another email from the same IP try, until the per-IP limit (15) is spent', async () => {
    // 12 attempts from this IP so far (10 failures, 2 refused): 3 more are allowed.
    const allowed = await statuses(3, () => failLogin(t, other));
    expect(allowed).toEqual([401, 401, 401]);
    const blocked = await failLogin(t, other);
    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
  });
});

describe('a successful login', () => {
  const t = app({ RATE_LOGIN_PER_EMAIL_IP: '5' });
  it('clears the failed-login count for that email and IP', async () => {
    const email = uniqueEmail('forgetful');
    await signup(t.request(), { email });
    expect(await statuses(4, () => failLogin(t, email))).toEqual([401, 401, 401, 401]);
    expect((await login(t.request(), email)).status).toBe(303);
    expect(await statuses(4, () => failLogin(t, email))).toEqual([401, 401, 401, 401]);
  });
});

describe('sign-ups per IP', () => {
  const t = app({ RATE_SIGNUP_PER_IP: '3' });
  it('allows 3 sign-ups from one IP and answers the 4th with 429 and Retry-After', async () => {
    const ok = await statuses(3, () => signup(t.request()));
    expect(ok).toEqual([303, 303, 303]);
    const before = await countUsers(t);
    const res = await signup(t.request());
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    const after = await countUsers(t);
    expect(after).toBe(before);
  });

  it('does not limit ordinary page views', async () => {
    const views = await statuses(30, () => t.request().get('/auth/login'));
    expect(views.every((s) => s === 200)).toBe(true);
  });
});

describe('TRUST_PROXY', () => {
  it('ignores X-Forwarded-For when TRUST_PROXY is unset: spoofing it does not escape the limit', async () => {
    const t = app({ RATE_LOGIN_PER_EMAIL_IP: '3' });
    const email = uniqueEmail('spoof');
    const res = await statuses(4, (i) => failLogin(t, email, `198.51.100.${i + 1}`));
    expect(res).toEqual([401, 401, 401, 429]);
  });

  it("gives different X-Forwarded-For clients separate budgets when TRUST_PROXY='1'", async () => {
    const t = app({ RATE_LOGIN_PER_EMAIL_IP: '3', TRUST_PROXY: '1' });
    const email = uniqueEmail('proxied');
    expect(await statuses(4, () => failLogin(t, email, '203.0.113.10'))).toEqual([401, 401, 401, 429]);
    expect((await failLogin(t, email, '203.0.113.11')).status).toBe(401);
  });

  it("uses only the last hop with TRUST_PROXY='1': a client-chosen left-most entry does not escape", async () => {
    const t = app({ RATE_LOGIN_PER_EMAIL_IP: '3', TRUST_PROXY: '1' });
    const email = uniqueEmail('hops');
    const res = await statuses(4, (i) => failLogin(t, email, `10.9.9.${i}, 203.0.113.20`));
    expect(res).toEqual([401, 401, 401, 429]);
  });

  it('makes IPv6 clients in one /64 share a budget (through the proxy)', async () => {
    const t = app({ RATE_LOGIN_PER_EMAIL_IP: '3', TRUST_PROXY: '1' });
    const email = uniqueEmail('v6');
    const res = await statuses(4, (i) => failLogin(t, email, `2001:db8:1:2::${(i + 1).toString(16)}`));
    expect(res).toEqual([401, 401, 401, 429]);
    expect((await failLogin(t, email, '2001:db8:1:3::1')).status).toBe(401);
  });
});

describe('across worker processes', () => {
  it('shares one budget between two app instances on separate connections to one database file', async () => {
    const t = app({ RATE_LOGIN_PER_EMAIL_IP: '4' });
    const sibling = siblingApp(t);
    const email = uniqueEmail('workers');
    const res = await statuses(5, (i) => failLogin(i % 2 === 0 ? t : sibling, email));
    expect(res).toEqual([401, 401, 401, 401, 429]);
  });
});

describe('clientKey', () => {
  it('gives two addresses in the same IPv6 /64 the same key', () => {
    expect(clientKey('2001:db8:1:2::1')).toBe(clientKey('2001:db8:1:2:ffff::9'));
  });

  it('gives a different /64 a different key', () => {
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
  });

  it('treats differently written forms of one /64 alike (leading zeros, case)', () => {
    expect(clientKey('2001:0DB8:0001:0002:0:0:0:1')).toBe(clientKey('2001:db8:1:2::1'));
  });

  it('maps an IPv4-mapped IPv6 address to the plain IPv4 address', () => {
    expect(clientKey('::ffff:1.2.3.4')).toBe('1.2.3.4');
  });

  it('keeps IPv4 addresses distinct', () => {
    expect(clientKey('1.2.3.4')).toBe('1.2.3.4');
    expect(clientKey('1.2.3.5')).not.toBe(clientKey('1.2.3.4'));
  });

  it('never returns an empty key for a missing address', () => {
    expect(clientKey(undefined)).toBeTruthy();
  });
});
