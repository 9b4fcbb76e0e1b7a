import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactUrl } from '../src/http/logging.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { countOf, run } from './helpers/db.js';
import { csrfFor, csrfFrom, login, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';
import { confirmEmail } from './helpers/mailbox.js';
import { TestSmtpServer } from './helpers/smtp.js';
import { userTokens } from '../src/db/schema.js';

const BASE = 'https://refer.example.com';
const NEW_PASSWORD = 'a brand new passphrase 42';
const smtp = new TestSmtpServer();
let t: TestApp;
beforeAll(async () => {
  await smtp.start();
  t = makeTestApp({ SMTP_URL: smtp.url, BASE_URL: BASE });
});
afterAll(async () => {
  await t.close();
  await smtp.stop();
});

async function requestReset(email: string, app = t) {
  const agent = app.request();
  const token = await csrfFor(agent, '/auth/forgot');
  return agent.post('/auth/forgot').type('form').send({ email, _csrf: token });
}

/** Requests a reset and returns the token from the delivered email. */
async function resetTokenFor(email: string): Promise<string> {
  await t.deliverer.runOnce(); // the welcome email, out of the way
  const before = smtp.to(email).length;
  expect((await requestReset(email)).status).toBe(303);
  await t.deliverer.runOnce();
  const mails = smtp.to(email).filter((m) => /reset your password/i.test(m.subject));
  expect(smtp.to(email).length).toBe(before + 1);
  const match = new RegExp(`${BASE}/auth/reset/([A-Za-z0-9_-]+)`).exec(mails[mails.length - 1]!.text);
  return match![1]!;
}

async function newAccount() {
  const agent = t.request();
  const email = uniqueEmail('reset');
  expect((await signup(agent, { email })).status).toBe(303);
  return { agent, email };
}

async function submitReset(token: string, password: string, agent = t.request()) {
  const page = await agent.get(`/auth/reset/${token}`);
  const csrf = page.status === 200 ? csrfFrom(page.text) : await csrfFor(agent, '/auth/forgot');
  return agent.post(`/auth/reset/${token}`).type('form').send({ password, _csrf: csrf });
}

describe('POST /auth/forgot', () => {
  it('answers the same for an existing and an unknown account, and emails only the existing one', async () => {
    const { email } = await newAccount();
    const known = await requestReset(email);
    const unknown = await requestReset('nobody-here@example.com');
    expect(known.status).toBe(303);
    expect(unknown.status).toBe(303);
    expect(known.headers.location).toBe(unknown.headers.location);
    const flash = (res: typeof known) =>
      (res.headers['set-cookie'] as unknown as string[])
        .find((c) => c.startsWith('flash='))!
        .split(';')[0]!
        .split('.')[0];
    expect(flash(known)).toBe(flash(unknown));
    expect(await countOf(t.db, "select count(*) from email_outbox where kind = 'password_reset' and to_address = ?", email)).toBe(1);
    expect(await countOf(t.db, "select count(*) from email_outbox where to_address = 'nobody-here@example.com'")).toBe(0);
  });

  it('stores the token only as a hash', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits
    const dump = JSON.stringify(await t.db.select().from(userTokens));
    expect(dump).not.toContain(token);
  });

  it('answers 400 with a field error for a malformed email and sends nothing', async () => {
    const agent = t.request();
    const csrf = await csrfFor(agent, '/auth/forgot');
    for (const email of ['not-an-email', 'a@b.c\r\nBcc: x@evil.test', '']) {
      const res = await agent.post('/auth/forgot').type('form').send({ email, _csrf: csrf });
      expect(res.status).toBe(400);
      expect(res.text).toContain('aria-invalid="true"');
    }
    const arr = await agent.post('/auth/forgot').type('form').send(`email=a@b.co&email=c@d.co&_csrf=${csrf}`);
    expect(arr.status).toBe(400);
  });

  it('sends nothing for a disabled account but answers the same', async () => {
    const { email } = await newAccount();
    await run(t.db, "update users set status = 'disabled' where email_normalized = ?", email);
    const res = await requestReset(email);
    expect(res.status).toBe(303);
    expect(await countOf(t.db, "select count(*) from email_outbox where kind = 'password_reset' and to_address = ?", email)).toBe(0);
  });
});

describe('GET and POST /auth/reset/:token', () => {
  it('shows the form with Referrer-Policy: no-referrer', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    const page = await t.request().get(`/auth/reset/${token}`);
    expect(page.status).toBe(200);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.text).toContain('name="password"');
  });

  it('answers 400 for unknown or malformed tokens', async () => {
    for (const token of ['x', 'A'.repeat(43), '%00', 'a'.repeat(3000)]) {
      const res = await t.request().get(`/auth/reset/${token}`);
      expect(res.status).toBe(400);
      expect(res.text).toContain('This link no longer works');
    }
  });

  it('changes the password, logs out every session, does not log in, and emails a notice', async () => {
    const { agent, email } = await newAccount();
    await confirmEmail(agent, t.db, email);
    const other = t.request();
    expect((await login(other, email)).status).toBe(303);
    const token = await resetTokenFor(email);

    const res = await submitReset(token, NEW_PASSWORD);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/auth/login');
    expect(await countOf(t.db, 'select count(*) from sessions s join users u on u.id = s.user_id where u.email_normalized = ?', email)).toBe(0);
    expect((await agent.get('/dashboard')).status).toBe(302);
    expect((await other.get('/dashboard')).status).toBe(302);

    expect((await login(t.request(), email, STRONG_PASSWORD)).status).toBe(401);
    expect((await login(t.request(), email, NEW_PASSWORD)).status).toBe(303);

    await t.deliverer.runOnce();
    const notice = smtp.to(email).find((m) => m.subject === 'Your password was changed');
    expect(notice?.text).toContain(`${BASE}/auth/forgot`);
  });

  it('works once only', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    expect((await submitReset(token, NEW_PASSWORD)).status).toBe(303);
    const again = await submitReset(token, 'yet another passphrase 7');
    expect(again.status).toBe(400);
    expect((await login(t.request(), email, NEW_PASSWORD)).status).toBe(303);
  });

  it('expires after one hour', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    t.clock.advance(60 * 60 * 1000 + 1000);
    try {
      expect((await t.request().get(`/auth/reset/${token}`)).status).toBe(400);
      expect((await submitReset(token, NEW_PASSWORD)).status).toBe(400);
    } finally {
      t.clock.advance(-(60 * 60 * 1000 + 1000));
    }
  });

  it('voids older links when a newer one is requested', async () => {
    const { email } = await newAccount();
    const first = await resetTokenFor(email);
    const second = await resetTokenFor(email);
    expect((await t.request().get(`/auth/reset/${first}`)).status).toBe(400);
    expect((await t.request().get(`/auth/reset/${second}`)).status).toBe(200);
  });

  it('applies the password policy and keeps the token usable after a refusal', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    for (const password of ['short', 'password1', 'é'.repeat(37)]) {
      const res = await submitReset(token, password);
      expect(res.status).toBe(400);
      expect(res.text).toContain('aria-invalid="true"');
    }
    expect((await submitReset(token, NEW_PASSWORD)).status).toBe(303);
  });

  it('accepts the form posted from its no-referrer page (Origin: null, Sec-Fetch-Site: same-origin), refuses it cross-site', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    const agent = t.request();
    const csrf = csrfFrom((await agent.get(`/auth/reset/${token}`)).text);
    const crossSite = await agent
      .post(`/auth/reset/${token}`)
      .set('Origin', 'null')
      .set('Sec-Fetch-Site', 'cross-site')
      .type('form')
      .send({ password: NEW_PASSWORD, _csrf: csrf });
    expect(crossSite.status).toBe(403);
    const noFetchMeta = await agent.post(`/auth/reset/${token}`).set('Origin', 'null').type('form').send({ password: NEW_PASSWORD, _csrf: csrf });
    expect(noFetchMeta.status).toBe(403);
    const sameOrigin = await agent
      .post(`/auth/reset/${token}`)
      .set('Origin', 'null')
      .set('Sec-Fetch-Site', 'same-origin')
      .type('form')
      .send({ password: NEW_PASSWORD, _csrf: csrf });
    expect(sameOrigin.status).toBe(303);
  });

  it('needs the CSRF token', async () => {
    const { email } = await newAccount();
    const token = await resetTokenFor(email);
    const res = await t.request().post(`/auth/reset/${token}`).type('form').send({ password: NEW_PASSWORD });
    expect(res.status).toBe(403);
    expect((await t.request().get(`/auth/reset/${token}`)).status).toBe(200);
  });

  it('keeps reset tokens out of request logs', () => {
    expect(redactUrl('/auth/reset/abcDEF123_-xyz?x=1')).toBe('/auth/reset/[token]?x=1');
  });
});

describe('reset rate limits', () => {
  it('allows 5 requests per account per hour, then 429, for existing and unknown accounts alike', async () => {
    const limited = makeTestApp({ RATE_RESET_PER_ACCOUNT: '5', RATE_RESET_PER_IP: '100' });
    try {
      const agent = limited.request();
      await signup(agent, { email: 'limited@example.com' });
      for (const email of ['limited@example.com', 'ghost@example.com']) {
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push((await requestReset(email, limited)).status);
        expect(statuses).toEqual([303, 303, 303, 303, 303, 429]);
      }
      expect(await countOf(limited.db, "select count(*) from email_outbox where kind = 'password_reset'")).toBe(5);
    } finally {
      await limited.close();
    }
  });

  it('allows 20 requests per client per hour across accounts', async () => {
    const limited = makeTestApp({ RATE_RESET_PER_ACCOUNT: '100', RATE_RESET_PER_IP: '20' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) statuses.push((await requestReset(`someone${i}@example.com`, limited)).status);
      expect(statuses.slice(0, 20).every((s) => s === 303)).toBe(true);
      expect(statuses[20]).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
