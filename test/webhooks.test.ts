import { and, count, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import type supertest from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { auditLog, emailOutbox, users, webhookDeliveries, webhookEndpoints, type WebhookEventType } from '../src/db/schema.js';
import { createMailTemplates } from '../src/modules/mail/mail.templates.js';
import { createNotifications } from '../src/modules/mail/notifications.js';
import { WEBHOOK_TIMEOUT_MS } from '../src/modules/webhooks/sender.js';
import { addressRefusal, createTargetGuard, RefusedTargetError, type Resolver } from '../src/modules/webhooks/url-guard.js';
import { createWebhooks } from '../src/modules/webhooks/webhooks.module.js';
import { appOn, makeTestApp, type TestApp } from './helpers/app.js';
import { closeSiblings, fieldError, formError, siblingApp, unescapeHtml } from './helpers/extra.js';
import { csrfFor, login, signup, uniqueEmail } from './helpers/forms.js';
import { WebhookReceiver, type ReceivedWebhook } from './helpers/webhook-receiver.js';

const SECOND = 1000;
const HOUR = 60 * 60 * SECOND;
const DAY = 24 * HOUR;
const ADMIN = 'hooks-admin@example.com';

const receiver = new WebhookReceiver();
let t: TestApp;
let webhooks: ReturnType<typeof createWebhooks>;
let admin: supertest.Agent;
let adminToken: string;
let user: supertest.Agent;
let userToken: string;

/** The webhooks module over a test app's database and clock, as the app builds it. */
function webhooksOf(app: TestApp, options: { timeoutMs?: number } = {}) {
  return createWebhooks({
    database: app.database,
    config: app.config,
    clock: app.clock,
    logger: pino({ level: 'silent' }),
    notifications: createNotifications({ templates: createMailTemplates(), config: app.config }),
    ...options,
  });
}

beforeAll(async () => {
  await receiver.start();
  t = makeTestApp({ ADMIN_EMAILS: ADMIN, WEBHOOK_ALLOW_PRIVATE: 'true' });
  webhooks = webhooksOf(t);
  admin = t.request();
  expect((await signup(admin, { email: ADMIN, name: 'Hook Admin' })).status).toBe(303);
  // Only confirmed addresses get anything but the confirmation email.
  await t.db.update(users).set({ emailVerifiedAt: t.clock.now() }).where(eq(users.emailNormalized, ADMIN));
  adminToken = await csrfFor(admin, '/admin/webhooks');
  user = t.request();
  await signup(user, { name: 'Plain User' });
  userToken = await csrfFor(user, '/dashboard');
});

afterEach(async () => {
  // Every test starts without endpoints (their deliveries go with them) and with an empty receiver.
  await t.database.transaction((tx) => tx.delete(webhookEndpoints));
  receiver.requests.length = 0;
});

afterAll(async () => {
  await closeSiblings();
  await t.close();
  await receiver.stop();
});

/** A urlencoded form body; repeated names (`events`) are repeated fields, as a browser sends them. */
const form = (fields: [string, string][]) => new URLSearchParams(fields).toString();

async function secretOf(id: number): Promise<string> {
  const page = await admin.get(`/admin/webhooks/${id}`);
  expect(page.status).toBe(200);
  return unescapeHtml(/data-secret>([^<]+)</.exec(page.text)![1]!);
}

/** Adds an endpoint through the admin form; returns its id and signing secret. */
async function addEndpoint(url: string, events: WebhookEventType[] = []): Promise<{ id: number; secret: string }> {
  const res = await admin
    .post('/admin/webhooks')
    .type('form')
    .send(form([['_csrf', adminToken], ['url', url], ...events.map((e): [string, string] => ['events', e])]));
  expect(res.status, res.text).toBe(303);
  const id = Number(/^\/admin\/webhooks\/(\d+)$/.exec(String(res.headers.location))![1]);
  return { id, secret: await secretOf(id) };
}

/** Reports an event the way the services do: inside a unit of work. */
async function emit(type: WebhookEventType, data: Record<string, unknown> = {}): Promise<void> {
  await t.database.transaction((tx) => webhooks.events.emitInTx(tx, type, data, t.clock.now()));
}

const deliveriesOf = (endpointId: number) =>
  t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId)).orderBy(webhookDeliveries.id);

async function endpointRow(id: number) {
  const [row] = await t.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  return row;
}

async function auditCount(action: string, targetId: number): Promise<number> {
  const [row] = await t.db
    .select({ n: count() })
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)));
  return row!.n;
}

/**
 * Verifies a received delivery with the standardwebhooks library, as a receiver would
 * on arrival: its timestamp check reads Date.now(), so that is the app clock's time meanwhile.
 */
function verify(secret: string, request: Pick<ReceivedWebhook, 'body' | 'headers'>): unknown {
  vi.setSystemTime(t.clock.now());
  try {
    return new Webhook(secret).verify(request.body, request.headers);
  } finally {
    vi.useRealTimers();
  }
}

/** The "endpoint disabled" emails queued about one endpoint URL. */
async function disabledMailsAbout(url: string) {
  const mails = await t.db.select().from(emailOutbox).where(eq(emailOutbox.kind, 'webhook_disabled'));
  return mails.filter((m) => m.textBody.includes(url));
}

const withSignature = (request: ReceivedWebhook, signature: string) => ({ ...request, headers: { ...request.headers, 'webhook-signature': signature } });

describe('delivery', () => {
  it('POSTs the event as JSON {type, timestamp, data} with Standard Webhooks headers that standardwebhooks verifies', async () => {
    const ep = await addEndpoint(receiver.url('/signed'));
    await emit('referral.credited', { id: 42, status: 'credited' });

    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    const [request] = receiver.at('/signed');
    expect(request).toBeDefined();
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toMatch(/^msg_[A-Za-z0-9_-]{24}$/);
    expect(request!.headers['webhook-timestamp']).toBe(String(Math.floor(t.clock.now().getTime() / 1000)));
    expect(request!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verify(ep.secret, request!)).toEqual({ type: 'referral.credited', timestamp: t.clock.now().toISOString(), data: { id: 42, status: 'credited' } });
    expect(JSON.parse(request!.body)).toEqual({ type: 'referral.credited', timestamp: t.clock.now().toISOString(), data: { id: 42, status: 'credited' } });

    // The signature covers the body and the id: a changed byte or another id does not verify.
    expect(() => verify(ep.secret, { ...request!, body: request!.body.replace('42', '43') })).toThrow(/signature/i);
    expect(() => verify(ep.secret, { ...request!, headers: { ...request!.headers, 'webhook-id': 'msg_other' } })).toThrow(/signature/i);

    const [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'sent', attempts: 1, lastStatusCode: 200, lastError: null, messageId: request!.headers['webhook-id'] });
    expect(row!.deliveredAt).toEqual(t.clock.now());

    // Sent once: later passes find nothing to do.
    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    expect(receiver.at('/signed')).toHaveLength(1);
  });

  it('sends an endpoint only the events it chose (none chosen: all of them)', async () => {
    const rewardsOnly = await addEndpoint(receiver.url('/rewards-only'), ['reward.earned']);
    const referrals = await addEndpoint(receiver.url('/referrals'), ['referral.created', 'referral.credited']);
    await addEndpoint(receiver.url('/everything'));
    expect((await endpointRow(rewardsOnly.id))!.events).toBe(',reward.earned,');
    expect((await endpointRow(referrals.id))!.events).toBe(',referral.created,referral.credited,');

    for (const type of ['participant.created', 'reward.earned', 'referral.created', 'referral.held'] as const) await emit(type);
    expect(await t.webhookDeliverer.runOnce()).toBe(6);

    const types = (path: string) => receiver.at(path).map((r) => (JSON.parse(r.body) as { type: string }).type);
    expect(types('/rewards-only')).toEqual(['reward.earned']);
    expect(types('/referrals')).toEqual(['referral.created']);
    expect(types('/everything').sort()).toEqual(['participant.created', 'referral.created', 'referral.held', 'reward.earned']);
    // One webhook-id per event, the same at every endpoint that receives it.
    expect(receiver.at('/rewards-only')[0]!.headers['webhook-id']).toBe(
      receiver.at('/everything').find((r) => r.body.includes('reward.earned'))!.headers['webhook-id'],
    );
  });

  it('retries a receiver that answers 500 within 30 s and delivers once when it recovers', async () => {
    receiver.answer('/flaky', 500);
    const ep = await addEndpoint(receiver.url('/flaky'));
    await emit('referral.created', { id: 7 });
    const failedAt = t.clock.now();

    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    let [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 500, lastError: 'HTTP 500: receiver says 500', lockedUntil: null });
    const wait = row!.nextAttemptAt.getTime() - failedAt.getTime();
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(30 * SECOND);
    expect((await endpointRow(ep.id))!.failingSince).toEqual(failedAt);

    // Not due yet: nothing is sent.
    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    expect(receiver.at('/flaky')).toHaveLength(1);

    receiver.answer('/flaky', 200);
    t.clock.set(row!.nextAttemptAt);
    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'sent', attempts: 2, lastStatusCode: 200, lastError: null });
    expect((await endpointRow(ep.id))!.failingSince).toBeNull();

    const requests = receiver.at('/flaky');
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['webhook-id']).toBe(requests[0]!.headers['webhook-id']);
    expect(requests[1]!.body).toBe(requests[0]!.body);
    // The retry is signed at its own time.
    expect(Number(requests[1]!.headers['webhook-timestamp']) - Number(requests[0]!.headers['webhook-timestamp'])).toBe(wait / 1000);
    verify(ep.secret, requests[1]!);

    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    expect(receiver.at('/flaky')).toHaveLength(2);
  });

  it('ends an attempt at a receiver that never answers after the timeout, and retries it', async () => {
    expect(WEBHOOK_TIMEOUT_MS).toBe(10 * SECOND);
    const quick = webhooksOf(t, { timeoutMs: 300 });
    receiver.answer('/hang', 'hang');
    const ep = await addEndpoint(receiver.url('/hang'));
    await emit('reward.earned', { reward: 'Swag' });

    const started = performance.now();
    expect(await quick.deliverer.runOnce()).toBe(0);
    expect(performance.now() - started).toBeLessThan(5_000);
    let [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: 'No answer within 0.3 s' });
    expect(row!.nextAttemptAt.getTime() - t.clock.now().getTime()).toBeLessThanOrEqual(30 * SECOND);

    receiver.answer('/hang', 204);
    t.clock.set(row!.nextAttemptAt);
    expect(await quick.deliverer.runOnce()).toBe(1);
    [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'sent', attempts: 2, lastStatusCode: 204 });
    const requests = receiver.at('/hang');
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual([row!.messageId, row!.messageId]);
  });

  it('retries on its schedule for 3 days, then fails the delivery, disables the endpoint and emails the admins', async () => {
    receiver.answer('/down', 500);
    const ep = await addEndpoint(receiver.url('/down'));
    await emit('referral.revoked', { id: 9 });
    const created = (await deliveriesOf(ep.id))[0]!.createdAt.getTime();

    const attemptedAt: number[] = [];
    for (let i = 0; i < 40; i++) {
      expect(await t.webhookDeliverer.runOnce()).toBe(0);
      attemptedAt.push(t.clock.now().getTime() - created);
      const [row] = await deliveriesOf(ep.id);
      if (row!.status !== 'pending') break;
      t.clock.set(row!.nextAttemptAt);
    }

    // 0, then 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h and 6 h later, then every 12 h, and a last try at 3 days.
    const expected = [0];
    for (const delay of [5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, ...Array<number>(6).fill(12 * 3600)]) {
      const at = expected.at(-1)! + delay * SECOND;
      if (at < 3 * DAY) expected.push(at);
    }
    expected.push(3 * DAY);
    expect(attemptedAt).toEqual(expected);
    expect(attemptedAt[1]).toBeLessThanOrEqual(30 * SECOND);

    const [row] = await deliveriesOf(ep.id);
    expect(row).toMatchObject({ status: 'failed', attempts: expected.length, lastStatusCode: 500, lastError: 'HTTP 500: receiver says 500' });
    const requests = receiver.at('/down');
    expect(requests).toHaveLength(expected.length);
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([row!.messageId]));

    const endpoint = await endpointRow(ep.id);
    expect(endpoint).toMatchObject({ status: 'disabled', disabledAt: t.clock.now(), failingSince: new Date(created) });
    expect(await auditCount('webhook.auto_disable', ep.id)).toBe(1);
    const mails = await disabledMailsAbout(receiver.url('/down'));
    expect(mails.map((m) => m.toAddress)).toEqual([ADMIN]);
    expect(mails[0]!.subject).toBe('A webhook endpoint was disabled');
    expect(mails[0]!.textBody).toContain(receiver.url('/down'));
    expect(mails[0]!.textBody).toContain(`${t.config.baseUrl}/admin/webhooks/${ep.id}`);
    expect(mails[0]!.htmlBody).toContain('HTTP 500');

    // A disabled endpoint gets nothing new.
    await emit('referral.created');
    expect(await deliveriesOf(ep.id)).toHaveLength(1);
  });

  it('disables an endpoint at a failure once it has been failing for 3 days, and drops its waiting deliveries', async () => {
    receiver.answer('/streak', 503);
    const ep = await addEndpoint(receiver.url('/streak'));
    await t.db
      .update(webhookEndpoints)
      .set({ failingSince: new Date(t.clock.now().getTime() - 3 * DAY) })
      .where(eq(webhookEndpoints.id, ep.id));
    await emit('referral.held', { id: 1 });
    await emit('referral.held', { id: 2 });
    const [, later] = await deliveriesOf(ep.id);
    await t.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date(t.clock.now().getTime() + HOUR) })
      .where(eq(webhookDeliveries.id, later!.id));

    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    const [first, second] = await deliveriesOf(ep.id);
    // A young delivery, but the endpoint's streak is 3 days old: it is disabled now.
    expect(first).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 503 });
    expect(second).toMatchObject({ status: 'failed', attempts: 0, lastError: 'Not sent: the endpoint was disabled after failing for 3 days.' });
    expect((await endpointRow(ep.id))!.status).toBe('disabled');
    expect(receiver.at('/streak')).toHaveLength(1);
    expect((await disabledMailsAbout(receiver.url('/streak'))).map((m) => m.toAddress)).toEqual([ADMIN]);
  });

  it('delivers each of 200 events exactly once with two app servers sending at the same time', async () => {
    const ep = await addEndpoint(receiver.url('/once'));
    await t.database.transaction(async (tx) => {
      for (let i = 0; i < 200; i++) await webhooks.events.emitInTx(tx, 'referral.created', { n: i }, t.clock.now());
    });
    const other = siblingApp(t);
    let sentHere = 0;
    let sentThere = 0;
    for (let round = 0; round < 20; round++) {
      const [a, b] = await Promise.all([t.webhookDeliverer.runOnce(), other.webhookDeliverer.runOnce()]);
      sentHere += a;
      sentThere += b;
      if (a + b === 0) break;
    }
    await other.close();

    const ids = receiver.at('/once').map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
    expect(sentHere + sentThere).toBe(200);
    expect(sentHere).toBeGreaterThan(0);
    expect(sentThere).toBeGreaterThan(0);
    const rows = await deliveriesOf(ep.id);
    expect(rows.every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true);
    expect(new Set(rows.map((r) => (JSON.parse(r.payload) as { data: { n: number } }).data.n)).size).toBe(200);
  });

  it('sends participant.created, referral.created, referral.credited and reward.earned when a friend signs up with a code', async () => {
    await addEndpoint(receiver.url('/signup'));
    const email = uniqueEmail('referrer');
    expect((await signup(t.request(), { email, name: 'Rita Referrer' })).status).toBe(303);
    const [referrer] = await t.db.select().from(users).where(eq(users.emailNormalized, email));
    expect((await signup(t.request(), { name: 'Fred Friend', referral_code: referrer!.referralCode })).status).toBe(303);

    await t.webhookDeliverer.runOnce();
    const events = receiver.at('/signup').map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> });
    expect(events.map((e) => e.type).sort()).toEqual(['participant.created', 'participant.created', 'referral.created', 'referral.credited', 'reward.earned']);
    const friend = events.find((e) => e.type === 'participant.created' && e.data.name === 'Fred Friend');
    expect(friend?.data).toMatchObject({ referred_by_id: referrer!.id });
    expect(events.find((e) => e.type === 'referral.credited')?.data).toMatchObject({ referrer_id: referrer!.id, status: 'credited' });
  });
});

describe('signing secrets', () => {
  it('are whsec_ and 32 random bytes in base64', async () => {
    const a = await addEndpoint(receiver.url('/a'));
    const b = await addEndpoint(receiver.url('/b'));
    for (const { secret } of [a, b]) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    }
    expect(a.secret).not.toBe(b.secret);
  });

  it('sign with both the new and the previous secret for 24 hours after a rotation, then with the new one only', async () => {
    const ep = await addEndpoint(receiver.url('/rotate'));
    const res = await admin.post(`/admin/webhooks/${ep.id}/rotate`).type('form').send({ _csrf: adminToken });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/webhooks/${ep.id}`);
    const rotated = await secretOf(ep.id);
    expect(rotated).not.toBe(ep.secret);
    expect(await auditCount('webhook.rotate_secret', ep.id)).toBe(1);
    expect((await admin.get(`/admin/webhooks/${ep.id}`)).text).toContain('still signs until');

    t.clock.advance(23 * HOUR);
    await emit('referral.rejected');
    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    const during = receiver.at('/rotate')[0]!;
    const [newSig, oldSig] = during.headers['webhook-signature']!.split(' ');
    expect(newSig).toMatch(/^v1,/);
    expect(oldSig).toMatch(/^v1,/);
    verify(rotated, during);
    verify(ep.secret, during);
    verify(rotated, withSignature(during, newSig!));
    verify(ep.secret, withSignature(during, oldSig!));
    expect(() => verify(ep.secret, withSignature(during, newSig!))).toThrow(/signature/i);
    expect(() => verify(rotated, withSignature(during, oldSig!))).toThrow(/signature/i);

    t.clock.advance(1 * HOUR);
    await emit('referral.rejected');
    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    const after = receiver.at('/rotate')[1]!;
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    verify(rotated, after);
    expect(() => verify(ep.secret, after)).toThrow(/signature/i);
    expect((await admin.get(`/admin/webhooks/${ep.id}`)).text).not.toContain('still signs until');
  });
});

describe('the delivery log', () => {
  it('lists deliveries with status, attempts, response and error, and resends one with the same webhook-id', async () => {
    receiver.answer('/log', 502);
    const ep = await addEndpoint(receiver.url('/log'));
    await emit('reward.earned', { n: 1 });
    await t.webhookDeliverer.runOnce();
    const [original] = await deliveriesOf(ep.id);

    let page = await admin.get(`/admin/webhooks/${ep.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('reward.earned');
    expect(page.text).toContain(original!.messageId);
    expect(page.text).toContain('HTTP 502: receiver says 502');
    expect(page.text).toMatch(/badge-pending">pending</);

    receiver.answer('/log', 200);
    const res = await admin.post(`/admin/webhooks/${ep.id}/deliveries/${original!.id}/resend`).type('form').send({ _csrf: adminToken });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/webhooks/${ep.id}`);
    const rows = await deliveriesOf(ep.id);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ status: 'pending', attempts: 0, messageId: original!.messageId, payload: original!.payload, nextAttemptAt: t.clock.now() });
    expect(await auditCount('webhook.resend', ep.id)).toBe(1);

    // The resent copy is due now; the original still waits for its retry.
    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    const requests = receiver.at('/log');
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['webhook-id']).toBe(original!.messageId);
    expect(requests[1]!.body).toBe(original!.payload);
    page = await admin.get(`/admin/webhooks/${ep.id}`);
    expect(page.text).toMatch(/badge-sent">sent</);
  });

  it('answers 404 to a resend of an unknown delivery or one of another endpoint, and 409 while the endpoint is disabled', async () => {
    const a = await addEndpoint(receiver.url('/a'));
    const b = await addEndpoint(receiver.url('/b'));
    await emit('participant.created');
    const [ofA] = await deliveriesOf(a.id);
    const resend = (endpointId: number | string, deliveryId: number | string) =>
      admin.post(`/admin/webhooks/${endpointId}/deliveries/${deliveryId}/resend`).type('form').send({ _csrf: adminToken });
    expect((await resend(b.id, ofA!.id)).status).toBe(404);
    expect((await resend(a.id, 99999999)).status).toBe(404);
    expect((await resend(a.id, 'x')).status).toBe(404);
    await admin.post(`/admin/webhooks/${a.id}/disable`).type('form').send({ _csrf: adminToken });
    expect((await resend(a.id, ofA!.id)).status).toBe(409);
    expect(await deliveriesOf(a.id)).toHaveLength(1);
  });
});

describe('managing endpoints', () => {
  it('lists endpoints with their events, status and recent failure', async () => {
    receiver.answer('/listed', 500);
    const ep = await addEndpoint(receiver.url('/listed'), ['referral.revoked', 'reward.earned']);
    await emit('reward.earned');
    await t.webhookDeliverer.runOnce();
    const page = await admin.get('/admin/webhooks');
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toContain(`href="/admin/webhooks/${ep.id}"`);
    expect(page.text).toContain('referral.revoked, reward.earned');
    expect(page.text).toContain('badge-active');
    expect(page.text).toContain('failing since');
    expect(page.text).toContain('HTTP 500: receiver says 500');
    // The secret is shown on the endpoint's own page only.
    expect(page.text).not.toContain(ep.secret);
  });

  it('disabling drops waiting deliveries and stops new ones; enabling clears the failure streak', async () => {
    const ep = await addEndpoint(receiver.url('/toggle'));
    await emit('referral.created');
    const disable = () => admin.post(`/admin/webhooks/${ep.id}/disable`).type('form').send({ _csrf: adminToken });
    expect((await disable()).status).toBe(303);
    expect(await endpointRow(ep.id)).toMatchObject({ status: 'disabled', disabledAt: t.clock.now() });
    expect((await deliveriesOf(ep.id))[0]).toMatchObject({ status: 'failed', attempts: 0, lastError: 'Not sent: the endpoint was disabled by an admin.' });
    expect(await auditCount('webhook.disable', ep.id)).toBe(1);
    await disable();
    expect(await auditCount('webhook.disable', ep.id)).toBe(1);

    await emit('referral.created');
    expect(await deliveriesOf(ep.id)).toHaveLength(1);
    expect(await t.webhookDeliverer.runOnce()).toBe(0);
    expect(receiver.at('/toggle')).toHaveLength(0);

    await t.db.update(webhookEndpoints).set({ failingSince: t.clock.now() }).where(eq(webhookEndpoints.id, ep.id));
    expect((await admin.post(`/admin/webhooks/${ep.id}/enable`).type('form').send({ _csrf: adminToken })).status).toBe(303);
    expect(await endpointRow(ep.id)).toMatchObject({ status: 'active', disabledAt: null, failingSince: null });
    expect(await auditCount('webhook.enable', ep.id)).toBe(1);
    await emit('referral.created');
    expect(await t.webhookDeliverer.runOnce()).toBe(1);
    expect(receiver.at('/toggle')).toHaveLength(1);
  });

  it('deletes an endpoint with its delivery log', async () => {
    const ep = await addEndpoint(receiver.url('/gone'));
    await emit('referral.created');
    const res = await admin.post(`/admin/webhooks/${ep.id}/delete`).type('form').send({ _csrf: adminToken });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/webhooks');
    expect(await endpointRow(ep.id)).toBeUndefined();
    expect(await deliveriesOf(ep.id)).toHaveLength(0);
    expect(await auditCount('webhook.delete', ep.id)).toBe(1);
    expect((await admin.get(`/admin/webhooks/${ep.id}`)).status).toBe(404);
  });

  it('refuses bad input with 400 and the form again, saving nothing', async () => {
    const before = (await t.db.select({ n: count() }).from(webhookEndpoints))[0]!.n;
    const post = (fields: [string, string][]) =>
      admin
        .post('/admin/webhooks')
        .type('form')
        .send(form([['_csrf', adminToken], ...fields]));
    const cases: { fields: [string, string][]; field: string; message: RegExp }[] = [
      { fields: [], field: 'url', message: /Enter the URL/ },
      { fields: [['url', '']], field: 'url', message: /Enter the URL/ },
      { fields: [['url', 'javascript:alert(1)']], field: 'url', message: /https:\/\/ or http:\/\// },
      { fields: [['url', 'ftp://example.com/hook']], field: 'url', message: /https:\/\/ or http:\/\// },
      { fields: [['url', 'not a url']], field: 'url', message: /full URL/ },
      { fields: [['url', 'https://user:secret@example.com/hook']], field: 'url', message: /passwords/ },
      { fields: [['url', `https://example.com/${'a'.repeat(3000)}`]], field: 'url', message: /at most 2000/ },
      { fields: [['url', 'https://example.com/\u0000hook']], field: 'url', message: /control characters/ },
      {
        fields: [
          ['url', receiver.url('/one')],
          ['url', receiver.url('/two')],
        ],
        field: 'url',
        message: /Enter the URL/,
      },
      {
        fields: [
          ['url', receiver.url('/x')],
          ['events', 'user.deleted'],
        ],
        field: 'events',
        message: /Choose events from the list/,
      },
      {
        fields: [['url', receiver.url('/x')], ...Array.from({ length: 30 }, (): [string, string] => ['events', 'reward.earned'])],
        field: 'events',
        message: /Choose events from the list/,
      },
    ];
    for (const { fields, field, message } of cases) {
      const res = await post(fields);
      expect(res.status, JSON.stringify(fields).slice(0, 200)).toBe(400);
      expect(fieldError(res.text, field)).toMatch(message);
    }
    // What was typed comes back, escaped.
    const res = await post([
      ['url', 'javascript:"><script>alert(1)</script>'],
      ['events', 'reward.earned'],
    ]);
    expect(res.text).not.toContain('<script>alert(1)');
    expect(res.text).toMatch(/value="reward.earned" checked/);
    expect((await t.db.select({ n: count() }).from(webhookEndpoints))[0]!.n).toBe(before);
  });
});

describe('access control', () => {
  const GETS = ['/admin/webhooks', '/admin/webhooks/1'];
  const POSTS = [
    '/admin/webhooks',
    '/admin/webhooks/1/rotate',
    '/admin/webhooks/1/enable',
    '/admin/webhooks/1/disable',
    '/admin/webhooks/1/delete',
    '/admin/webhooks/1/deliveries/1/resend',
  ];

  it.each(GETS)('GET %s sends anonymous visitors to the login form and answers 403 to a non-admin', async (route) => {
    const res = await t.request().get(route);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/auth/login?next=${encodeURIComponent(route)}`);
    expect((await user.get(route)).status).toBe(403);
  });

  it.each(POSTS)('POST %s answers 403 to a non-admin with a CSRF token, and to an admin without one', async (route) => {
    const ep = await addEndpoint(receiver.url('/guarded'));
    const target = route.replace('/1', `/${ep.id}`);
    const before = (await t.db.select({ n: count() }).from(auditLog))[0]!.n;
    expect(
      (
        await user
          .post(target)
          .type('form')
          .send({ _csrf: userToken, url: receiver.url('/evil') })
      ).status,
    ).toBe(403);
    expect(
      (
        await admin
          .post(target)
          .type('form')
          .send({ url: receiver.url('/evil') })
      ).status,
    ).toBe(403);
    expect(
      (
        await admin
          .post(target)
          .type('form')
          .send({ _csrf: 'forged', url: receiver.url('/evil') })
      ).status,
    ).toBe(403);
    expect((await t.db.select({ n: count() }).from(auditLog))[0]!.n).toBe(before);
    expect(await endpointRow(ep.id)).toMatchObject({ secret: ep.secret, status: 'active' });
  });

  it('answers 404 for malformed or unknown ids', async () => {
    for (const id of ['abc', '0', '-1', '1.5', '99999999', '1e3']) {
      expect((await admin.get(`/admin/webhooks/${id}`)).status).toBe(404);
      for (const action of ['rotate', 'enable', 'disable', 'delete']) {
        expect((await admin.post(`/admin/webhooks/${id}/${action}`).type('form').send({ _csrf: adminToken })).status).toBe(404);
      }
    }
  });
});

describe('the SSRF guard', () => {
  let guarded: TestApp;
  let agent: supertest.Agent;
  let token: string;

  beforeAll(async () => {
    // A second server on the same database with the guard on, as in production.
    guarded = appOn(openDatabase(t.config), { ...t.config, webhookAllowPrivate: false }, t.clock, t.dir);
    agent = guarded.request();
    expect((await login(agent, ADMIN)).status).toBe(303);
    token = await csrfFor(agent, '/admin/webhooks');
  });
  afterAll(() => guarded.close());

  it.each([
    ['http://127.0.0.1/', /127\.0\.0\.1 is a loopback address/],
    ['http://127.1/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f000001:8080/hook', /127\.0\.0\.1 is a loopback address/],
    ['http://10.0.0.5/', /10\.0\.0\.5 is a private address/],
    ['https://172.16.3.4/', /private address/],
    ['https://192.168.1.10/', /private address/],
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://0.0.0.0/', /unspecified/],
    ['http://[::1]/', /::1 is a loopback address/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://[fe80::1]/', /link-local/],
    ['http://[fd00::1]/', /unique-local/],
    ['http://localhost/', /localhost resolves to .*loopback/],
  ])('refuses to register %s with 400', async (url, message) => {
    const res = await agent
      .post('/admin/webhooks')
      .type('form')
      .send(
        form([
          ['_csrf', token],
          ['url', url],
        ]),
      );
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'url')).toMatch(message);
    expect(fieldError(res.text, 'url')).toMatch(/WEBHOOK_ALLOW_PRIVATE/);
    expect(formError(res.text)).toBeUndefined();
    expect((await t.db.select({ n: count() }).from(webhookEndpoints))[0]!.n).toBe(0);
  });

  it('refuses at delivery a target that passed registration but now resolves to loopback, without making the request', async () => {
    const byName = await addEndpoint(receiver.url('/rebind', 'localhost'));
    const byAddress = await addEndpoint(receiver.url('/literal'));
    await emit('referral.credited');

    expect(await guarded.webhookDeliverer.runOnce()).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    const [named] = await deliveriesOf(byName.id);
    expect(named).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect(named!.lastError).toMatch(/^Refused: localhost resolves to (127\.0\.0\.1|::1); .* loopback address/);
    const [literal] = await deliveriesOf(byAddress.id);
    expect(literal).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect(literal!.lastError).toMatch(/^Refused: 127\.0\.0\.1 is a loopback address/);

    // The same rows go out from a server that allows private targets: only the guard stood in the way.
    t.clock.set(named!.nextAttemptAt);
    expect(await t.webhookDeliverer.runOnce()).toBe(2);
    expect(receiver.requests).toHaveLength(2);
  });
});

describe('url guard', () => {
  it('allows public unicast addresses only', () => {
    for (const ok of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82a::200e']) {
      expect(addressRefusal(ok), ok).toBeNull();
    }
    for (const bad of [
      '127.0.0.1',
      '127.8.9.10',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.2.1',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
      '64:ff9b::7f00:1',
      '2002:7f00:1::1',
      'not-an-ip',
    ]) {
      expect(addressRefusal(bad), bad).not.toBeNull();
    }
  });

  it('refuses a name when any one of its addresses is not public, or when it does not resolve', async () => {
    const answers: Record<string, { address: string; family: number }[]> = {
      'public.example': [{ address: '93.184.216.34', family: 4 }],
      'mixed.example': [
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.1', family: 4 },
      ],
    };
    const resolve: Resolver = (host) =>
      answers[host] ? Promise.resolve(answers[host]) : Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }));
    const guard = createTargetGuard({ allowPrivate: false, resolve });
    await expect(guard.check(new URL('https://public.example/hook'))).resolves.toBeUndefined();
    await expect(guard.check(new URL('https://mixed.example/hook'))).rejects.toThrow(
      /mixed\.example resolves to 10\.0\.0\.1; 10\.0\.0\.1 is a private address/,
    );
    await expect(guard.check(new URL('https://nowhere.example/hook'))).rejects.toThrow(RefusedTargetError);

    const open = createTargetGuard({ allowPrivate: true, resolve });
    await expect(open.check(new URL('http://127.0.0.1/'))).resolves.toBeUndefined();
    expect(open.connectOptions(new URL('http://localhost/'))).toEqual({});
  });

  it('connects only to the addresses it checked at delivery, whatever the name resolved to at registration', async () => {
    let answer = [{ address: '93.184.216.34', family: 4 }];
    const guard = createTargetGuard({ allowPrivate: false, resolve: () => Promise.resolve(answer) });
    const { lookup } = guard.connectOptions(new URL('https://rebind.example/hook'));
    expect(lookup).toBeDefined();
    const lookUp = (all: boolean) =>
      new Promise<{ err: Error | null; address: unknown }>((resolve) => lookup!('rebind.example', { all }, (err, address) => resolve({ err, address })));

    expect(await lookUp(true)).toEqual({ err: null, address: answer });
    expect(await lookUp(false)).toEqual({ err: null, address: '93.184.216.34' });
    answer = [{ address: '127.0.0.1', family: 4 }];
    const { err } = await lookUp(true);
    expect(err).toBeInstanceOf(RefusedTargetError);
    expect(err!.message).toMatch(/rebind\.example resolves to 127\.0\.0\.1/);

    expect(() => guard.connectOptions(new URL('http://[::ffff:7f00:1]/'))).toThrow(RefusedTargetError);
    expect(guard.connectOptions(new URL('https://93.184.216.34/'))).toEqual({});
  });
});
