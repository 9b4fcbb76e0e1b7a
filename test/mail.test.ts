import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { emailOutbox } from '../src/db/schema.js';
import { retryDelayMs, RETRY_CAP_MS } from '../src/modules/mail/deliverer.js';
import { makeTestApp, type TestApp, type TestClock } from './helpers/app.js';
import { siblingApp, closeSiblings } from './helpers/extra.js';
import { userByEmail } from './helpers/db.js';
import { csrfFor, signup, uniqueEmail } from './helpers/forms.js';
import { confirmEmail } from './helpers/mailbox.js';
import { TestSmtpServer } from './helpers/smtp.js';

const BASE = 'https://refer.example.com';

const smtp = new TestSmtpServer();
let t: TestApp;
beforeAll(async () => {
  await smtp.start();
  t = makeTestApp({ SMTP_URL: smtp.url, BASE_URL: BASE, MAIL_FROM: 'Acme Referrals <hello@acme.test>' });
});
afterAll(async () => {
  await closeSiblings();
  await t.close();
  await smtp.stop();
});
afterEach(() => {
  smtp.rejectRecipientsWith = undefined;
});

const codeOf = async (email: string) => (await userByEmail(t.db, email))!.referralCode;
const outbox = (to: string) => t.db.select().from(emailOutbox).where(eq(emailOutbox.toAddress, to)).orderBy(emailOutbox.id);

describe('retry schedule', () => {
  it('doubles from one second and caps at 30 seconds', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(RETRY_CAP_MS).toBeLessThan(60_000);
  });
});

describe('notifications over SMTP', () => {
  it('sends a welcome email with the referral link built from BASE_URL, in text and HTML', async () => {
    const email = uniqueEmail('welcome');
    await signup(t.request(), { email, name: 'Wanda Welcome' });
    expect(await t.deliverer.runOnce()).toBeGreaterThanOrEqual(1);
    const mail = await smtp.waitFor((m) => m.to.includes(email));
    expect(mail.subject).toMatch(/welcome/i);
    expect(mail.parsed.from?.value[0]).toMatchObject({ name: 'Acme Referrals', address: 'hello@acme.test' });
    const link = `${BASE}/r/${await codeOf(email)}`;
    expect(mail.text).toContain(link);
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.text).toContain('Wanda Welcome');
  });

  it('tells the referrer who joined and their new total', async () => {
    const refEmail = uniqueEmail('referrer');
    await signup(t.request(), { email: refEmail, name: 'Rita Referrer' });
    await confirmEmail(t.request(), t.db, refEmail);
    await signup(t.request(), { name: 'Fred Friend', referral_code: await codeOf(refEmail) });
    await signup(t.request(), { name: 'Gina Guest', referral_code: await codeOf(refEmail) });
    await t.deliverer.runOnce();
    const notices = smtp.to(refEmail).filter((m) => /joined with your link/.test(m.subject));
    expect(notices.map((m) => m.subject)).toEqual(['Fred Friend joined with your link', 'Gina Guest joined with your link']);
    expect(notices[1]!.text).toContain('You now have 2 referrals');
    expect(notices[1]!.html).toContain(`${BASE}/dashboard`);
  });

  it('sends the notice for a code applied after sign-up too', async () => {
    const refEmail = uniqueEmail('late-ref');
    await signup(t.request(), { email: refEmail });
    await confirmEmail(t.request(), t.db, refEmail);
    const agent = t.request();
    await signup(agent, { name: 'Applied Andy' });
    const token = await csrfFor(agent, '/dashboard');
    const res = await agent
      .post('/referral/process_referral')
      .set('x-csrf-token', token)
      .send({ referral_code: await codeOf(refEmail) });
    expect(res.status).toBe(200);
    await t.deliverer.runOnce();
    expect(smtp.to(refEmail).some((m) => m.subject === 'Applied Andy joined with your link')).toBe(true);
  });

  it('respects the dashboard setting that turns referral notices off', async () => {
    const refEmail = uniqueEmail('quiet');
    const agent = t.request();
    await signup(agent, { email: refEmail });
    await confirmEmail(agent, t.db, refEmail);
    const token = await csrfFor(agent, '/dashboard');
    const off = await agent.post('/dashboard/settings').type('form').send({ _csrf: token });
    expect(off.status).toBe(303);
    expect((await agent.get('/dashboard')).text).not.toMatch(/name="notify_referrals" value="on" role="switch" checked/);
    await signup(t.request(), { referral_code: await codeOf(refEmail) });
    const notices = async () => (await outbox(refEmail)).filter((r) => r.kind === 'referral_joined');
    expect(await notices()).toHaveLength(0);
    expect((await outbox(refEmail)).map((r) => r.kind)).toContain('reward_earned'); // rewards are not referral notices
    const on = await agent.post('/dashboard/settings').type('form').send({ _csrf: token, notify_referrals: 'on' });
    expect(on.status).toBe(303);
    await signup(t.request(), { referral_code: await codeOf(refEmail) });
    expect(await notices()).toHaveLength(1);
  });

  it('refuses a hostile settings value with 400 and changes nothing', async () => {
    const agent = t.request();
    const email = uniqueEmail('settings');
    await signup(agent, { email });
    const token = await csrfFor(agent, '/dashboard');
    const res = await agent.post('/dashboard/settings').type('form').send({ _csrf: token, notify_referrals: 'off; DROP TABLE users' });
    expect(res.status).toBe(400);
    expect((await userByEmail(t.db, email))!.notifyReferrals).toBe(true);
  });

  it('never builds links from the Host header', async () => {
    const email = uniqueEmail('host');
    await signup(t.request().set('Host', 'evil.example').set('X-Forwarded-Host', 'evil.example'), { email });
    const agent = t.request();
    const token = await csrfFor(agent, '/auth/forgot');
    await agent.post('/auth/forgot').set('Host', 'evil.example').type('form').send({ email, _csrf: token });
    await t.deliverer.runOnce();
    const mails = smtp.to(email);
    expect(mails.length).toBe(2);
    for (const m of mails) {
      expect(m.text + m.html).not.toContain('evil.example');
      expect(m.text).toContain(BASE);
    }
  });

  it('queues nothing when the event fails (a taken email)', async () => {
    const email = uniqueEmail('dup');
    await signup(t.request(), { email });
    const again = await signup(t.request(), { email });
    expect(again.status).toBe(409);
    expect(await outbox(email)).toHaveLength(1);
  });

  it('marks a message failed at once when the server refuses it permanently (5xx)', async () => {
    const email = uniqueEmail('refused');
    await signup(t.request(), { email });
    smtp.rejectRecipientsWith = 550;
    await t.deliverer.runOnce();
    const [row] = await outbox(email);
    expect(row!.status).toBe('failed');
    expect(row!.attempts).toBe(1);
    expect(row!.lastError).toMatch(/refused/i);
  });
});

describe('delivery that survives outages and restarts', () => {
  const down = new TestSmtpServer();
  let app: TestApp;
  let clock: TestClock;
  beforeAll(async () => {
    const port = await down.start();
    await down.stop(); // keep the port, lose the server
    app = makeTestApp({ SMTP_URL: `smtp://127.0.0.1:${port}` });
    clock = app.clock;
  });
  afterAll(async () => {
    await app.close();
    await down.stop();
  });

  it('keeps the email through a long outage and sends it within 30 s of recovery', async () => {
    const email = uniqueEmail('outage');
    await signup(app.request(), { email });
    const row = async () => {
      const [found] = await app.db
        .select({ status: emailOutbox.status, attempts: emailOutbox.attempts, lastError: emailOutbox.lastError })
        .from(emailOutbox)
        .where(eq(emailOutbox.toAddress, email));
      return found!;
    };
    // An hour of outage: the loop keeps retrying on its schedule.
    for (let elapsed = 0; elapsed < 3_600_000; elapsed += 30_000) {
      await app.deliverer.runOnce();
      clock.advance(30_000);
    }
    expect((await row()).status).toBe('pending');
    expect((await row()).attempts).toBeGreaterThan(10);
    expect((await row()).lastError).toMatch(/ECONNREFUSED|connect/i);

    await down.start(down.port);
    clock.advance(RETRY_CAP_MS);
    await app.deliverer.runOnce();
    expect((await row()).status).toBe('sent');
    expect(down.to(email)).toHaveLength(1);
  });

  it('delivers in real time after the server comes back, with the loop running', async () => {
    await down.stop();
    const live = makeTestApp({ SMTP_URL: `smtp://127.0.0.1:${down.port}` }, { clock: { ...systemClock, advance: () => {}, set: () => {} } });
    try {
      live.deliverer.start();
      const email = uniqueEmail('realtime');
      await signup(live.request(), { email });
      await new Promise((r) => setTimeout(r, 2500)); // a few failed attempts
      const [before] = await live.db.select({ attempts: emailOutbox.attempts }).from(emailOutbox).where(eq(emailOutbox.toAddress, email));
      expect(before!.attempts).toBeGreaterThanOrEqual(1);
      await down.start(down.port);
      const recovered = Date.now();
      await down.waitFor((m) => m.to.includes(email), 40_000);
      expect(Date.now() - recovered).toBeLessThan(35_000);
    } finally {
      await live.close();
    }
  }, 60_000);

  it('sends what a previous process left in the outbox', async () => {
    const email = uniqueEmail('restart');
    await signup(app.request(), { email }); // queued by this "process", never delivered by it
    const next = siblingApp(app); // a new process on the same database file
    clock.advance(RETRY_CAP_MS);
    await next.deliverer.runOnce();
    expect(down.to(email)).toHaveLength(1);
    await next.close();
  });

  it('never sends one message twice when two workers deliver at once', async () => {
    const emails = Array.from({ length: 12 }, () => uniqueEmail('race'));
    for (const email of emails) await signup(app.request(), { email });
    const other = siblingApp(app);
    clock.advance(RETRY_CAP_MS);
    await Promise.all([app.deliverer.runOnce(), other.deliverer.runOnce(), app.deliverer.runOnce(), other.deliverer.runOnce()]);
    await app.deliverer.runOnce();
    for (const email of emails) expect(down.to(email), email).toHaveLength(1);
    await other.close();
  });
});

describe('the embedded default: .eml files', () => {
  it('writes each message to data/mail/ when SMTP_URL is not set', async () => {
    const local = makeTestApp();
    try {
      const email = uniqueEmail('file');
      await signup(local.request(), { email });
      expect(await local.deliverer.runOnce()).toBe(1);
      const files = fs.readdirSync(local.config.mailDir).filter((f) => f.endsWith('.eml'));
      expect(files).toHaveLength(1);
      const raw = fs.readFileSync(path.join(local.config.mailDir, files[0]!), 'utf8');
      expect(raw).toContain(`To: ${email}`);
      expect(raw).toMatch(/Subject: Welcome/);
    } finally {
      await local.close();
    }
  });
});
