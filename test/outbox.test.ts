import net from 'node:net';
import { eq, like } from 'drizzle-orm';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailOutbox } from '../src/db/schema.js';
import { createDeliverer, LEASE_MARGIN_MS, LEASE_MS, messageRetryDelayMs, PRUNE_CHUNK, RETRY_CAP_MS } from '../src/modules/mail/deliverer.js';
import { createOutboxRepository, enqueueInTx } from '../src/modules/mail/outbox.repository.js';
import { createSmtpTransport, isConnectionFailure, SMTP_TIMEOUT_MS, type MailTransport } from '../src/modules/mail/transport.js';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { freePort } from './helpers/net.js';
import { TestSmtpServer } from './helpers/smtp.js';

const DAY = 24 * 60 * 60 * 1000;
let counter = 0;
const address = (prefix: string) => `${prefix}${++counter}@example.com`;

/** Queues one email the way the services do (rendered, inside a unit of work). */
async function queue(t: TestApp, to: string): Promise<void> {
  await t.database.transaction((tx) =>
    enqueueInTx(tx, {
      kind: 'test',
      to,
      now: t.clock.now(),
      domain: 'refer.example.com',
      subject: `Hello ${to}`,
      text: `Text for ${to}`,
      html: `<p>HTML for ${to}</p>`,
    }),
  );
}

async function rowOf(t: TestApp, to: string) {
  const [row] = await t.db.select().from(emailOutbox).where(eq(emailOutbox.toAddress, to));
  return row!;
}

/**
 * A real SMTP server (smtp-server) that answers RCPT TO of the addresses in `deferred`
 * with 451, as a greylisting server or a full mailbox does, and accepts everyone else.
 */
class DeferringSmtpServer {
  readonly delivered: string[] = [];
  readonly deferred = new Set<string>();
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo: (rcpt, _session, callback) => {
      if (this.deferred.has(rcpt.address)) return callback(Object.assign(new Error('Greylisted, try again later'), { responseCode: 451 }));
      callback();
    },
    onData: (stream, session, callback) => {
      stream.on('end', () => {
        this.delivered.push(...session.envelope.rcptTo.map((r) => r.address));
        callback();
      });
      stream.resume();
    },
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `smtp://127.0.0.1:${(this.server.server.address() as net.AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A TCP server that runs `onSocket` for each connection; closing it also drops them. */
async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('which failures stop the whole loop', () => {
  it('counts only failures of the connection or the session, not replies about one message', () => {
    const connection = [
      { code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' },
      { code: 'ETIMEDOUT', command: 'CONN' },
      { code: 'EDNS', command: 'CONN' },
      { code: 'ECONNECTION', command: 'CONN' },
      { code: 'ETIMEDOUT' }, // the whole-send deadline of createSmtpTransport
      { code: 'EPROTOCOL', responseCode: 554, command: 'CONN' }, // the greeting turned us away
      { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' },
      { code: 'EENVELOPE', responseCode: 421, command: 'MAIL FROM' },
    ];
    const oneMessage = [
      { code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO' },
      { code: 'EENVELOPE', responseCode: 452, command: 'RCPT TO' },
      { code: 'EMESSAGE', responseCode: 451, command: 'DATA' },
      { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' },
      new Error('something else'),
      null,
    ];
    for (const err of connection) expect(isConnectionFailure(Object.assign(new Error('x'), err)), JSON.stringify(err)).toBe(true);
    for (const err of oneMessage) expect(isConnectionFailure(err), JSON.stringify(err)).toBe(false);
  });
});

describe('a recipient the server defers (451)', () => {
  const smtp = new DeferringSmtpServer();
  let t: TestApp;
  beforeAll(async () => {
    await smtp.start();
    t = makeTestApp({ SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await t.close();
    await smtp.stop();
  });

  it('delivers everything else in the same pass and retries that message on its own schedule', async () => {
    const poisoned = address('greylisted');
    smtp.deferred.add(poisoned);
    await queue(t, poisoned); // first in line
    const others = Array.from({ length: 9 }, () => address('other'));
    for (const to of others) await queue(t, to);

    const start = t.clock.now().getTime();
    expect(await t.deliverer.runOnce()).toBe(9);
    expect([...smtp.delivered].sort()).toEqual([...others].sort());
    let row = await rowOf(t, poisoned);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lockedUntil: null });
    expect(row.nextAttemptAt.getTime()).toBe(start + messageRetryDelayMs(1));
    expect(row.lastError).toMatch(/451/);

    // The loop is not paused: mail queued now goes out now, and the deferred row waits its turn.
    const later = address('later');
    await queue(t, later);
    expect(await t.deliverer.runOnce()).toBe(1);
    expect(smtp.delivered).toContain(later);
    expect((await rowOf(t, poisoned)).attempts).toBe(1);

    t.clock.advance(messageRetryDelayMs(1));
    expect(await t.deliverer.runOnce()).toBe(0);
    row = await rowOf(t, poisoned);
    expect(row).toMatchObject({ status: 'pending', attempts: 2 });
    expect(row.nextAttemptAt.getTime()).toBe(t.clock.now().getTime() + messageRetryDelayMs(2));

    smtp.deferred.delete(poisoned);
    t.clock.advance(messageRetryDelayMs(2));
    expect(await t.deliverer.runOnce()).toBe(1);
    expect(await rowOf(t, poisoned)).toMatchObject({ status: 'sent', attempts: 3, lastError: null });
    expect(smtp.delivered.filter((a) => a === poisoned)).toHaveLength(1);
  });

  it('backs off a message that stays deferred up to minutes, not seconds', () => {
    expect([1, 2, 3, 10, 11, 50].map(messageRetryDelayMs)).toEqual([1000, 2000, 4000, 512_000, 600_000, 600_000]);
  });
});

describe('a mail server that is down', () => {
  let t: TestApp;
  let port: number;
  const smtp = new TestSmtpServer();
  beforeAll(async () => {
    port = await freePort();
    t = makeTestApp({ SMTP_URL: `smtp://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await t.close();
    await smtp.stop();
  });

  it('pauses the loop, fails nothing, and sends everything once the server is back', async () => {
    const emails = Array.from({ length: 5 }, () => address('down'));
    for (const to of emails) await queue(t, to);
    const repo = createOutboxRepository(t.database);

    expect(await t.deliverer.runOnce()).toBe(0);
    const rows = await Promise.all(emails.map((to) => rowOf(t, to)));
    // One connection refused, and the rest of the batch handed back without trying.
    expect(rows.map((r) => r.attempts)).toEqual([1, 0, 0, 0, 0]);
    expect(rows.every((r) => r.status === 'pending' && r.lockedUntil === null)).toBe(true);
    expect(rows[0]!.lastError).toMatch(/ECONNREFUSED|connect/i);

    // Paused: another pass at the same moment tries nothing.
    await t.deliverer.runOnce();
    expect((await Promise.all(emails.map((to) => rowOf(t, to)))).reduce((n, r) => n + r.attempts, 0)).toBe(1);

    for (let i = 0; i < 10; i++) {
      t.clock.advance(RETRY_CAP_MS);
      await t.deliverer.runOnce();
    }
    expect(await repo.counts()).toMatchObject({ failed: 0, sent: 0, pending: 5 });

    await smtp.start(port);
    t.clock.advance(RETRY_CAP_MS);
    expect(await t.deliverer.runOnce()).toBe(5);
    for (const to of emails) expect(smtp.to(to)).toHaveLength(1);
    expect(await repo.counts()).toMatchObject({ failed: 0, sent: 5, pending: 0 });
  });
});

describe('a mail server that accepts the connection and then stalls', () => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('fails the send within the timeout and retries the message', async () => {
    const silent = await tcpServer(() => {}); // never greets
    const timeoutMs = 300;
    t = makeTestApp({ SMTP_URL: `smtp://127.0.0.1:${silent.port}` }, { mailer: createSmtpTransport(`smtp://127.0.0.1:${silent.port}`, { timeoutMs }) });
    const to = address('silent');
    await queue(t, to);

    const started = Date.now();
    expect(await t.deliverer.runOnce()).toBe(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await rowOf(t, to)).toMatchObject({ status: 'pending', attempts: 1, lockedUntil: null });
    // Nodemailer's greeting wait and its idle-socket wait are the same length; which one
    // fires first depends on timer order under load, and both mean "the server stalled".
    expect((await rowOf(t, to)).lastError).toMatch(/^(greeting never received|timeout)$/i);

    // The same port now answers: the retry goes out.
    await silent.close();
    const smtp = new TestSmtpServer();
    await smtp.start(silent.port);
    try {
      t.clock.advance(RETRY_CAP_MS);
      expect(await t.deliverer.runOnce()).toBe(1);
      expect(smtp.to(to)).toHaveLength(1);
    } finally {
      await smtp.stop();
    }
  });

  it('cuts off a server that keeps talking without ever finishing a reply', async () => {
    // Greets, then answers EHLO with an endless multi-line reply: every wait is short,
    // so only the deadline of the whole send ends it.
    const trickle = await tcpServer((socket) => {
      socket.write('220 slow.example ESMTP\r\n');
      socket.once('data', () => {
        const timer = setInterval(() => socket.write('250-still thinking\r\n'), 50);
        socket.on('close', () => clearInterval(timer));
      });
    });
    const timeoutMs = 400;
    const app = makeTestApp({}, { mailer: createSmtpTransport(`smtp://127.0.0.1:${trickle.port}`, { timeoutMs }) });
    try {
      const to = address('trickle');
      await queue(app, to);
      const started = Date.now();
      expect(await app.deliverer.runOnce()).toBe(0);
      expect(Date.now() - started).toBeLessThan(3_000);
      const row = await rowOf(app, to);
      expect(row).toMatchObject({ status: 'pending', attempts: 1 });
      expect(row.lastError).toContain(`within ${timeoutMs} ms`);
    } finally {
      await app.close();
      await trickle.close();
    }
  });
});

describe('leases', () => {
  const smtp = new TestSmtpServer();
  let t: TestApp;
  beforeAll(async () => {
    await smtp.start();
    t = makeTestApp({ SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await t.close();
    await smtp.stop();
  });

  it('sends within 30 s what a crashed worker had claimed', async () => {
    const emails = [address('crash'), address('crash')];
    for (const to of emails) await queue(t, to);
    // A worker claims the rows and dies in its first send (it never answers again).
    let claimed!: () => void;
    const inSend = new Promise<void>((resolve) => (claimed = resolve));
    const stuck: MailTransport = {
      send: () => {
        claimed();
        return new Promise<void>(() => {});
      },
      close: () => {},
    };
    const crashed = createDeliverer({
      repo: createOutboxRepository(t.database),
      transport: stuck,
      clock: t.clock,
      logger: pino({ level: 'silent' }),
      from: 'x@example.com',
    });
    void crashed.runOnce();
    await inSend;
    expect((await rowOf(t, emails[0]!)).status).toBe('sending');

    expect(await t.deliverer.runOnce()).toBe(0); // the lease still holds
    t.clock.advance(25_000); // under 30 s, with a poll to spare
    expect(await t.deliverer.runOnce()).toBe(2);
    for (const to of emails) expect(smtp.to(to)).toHaveLength(1);
    expect(LEASE_MS).toBeLessThanOrEqual(25_000);
  });

  it('never lets a late finisher overwrite a newer claim', async () => {
    const to = address('stale');
    await queue(t, to);
    const repo = createOutboxRepository(t.database);
    const [first] = await repo.claimDue(t.clock.now(), 1, LEASE_MS);
    t.clock.advance(LEASE_MS);
    const [second] = await repo.claimDue(t.clock.now(), 1, LEASE_MS);
    expect(second!.id).toBe(first!.id);
    const id = first!.id;

    expect(await repo.markSent(id, t.clock.now(), first!.lockedUntil!)).toBe(false);
    expect(await repo.markRetry(id, 'late', t.clock.now(), first!.lockedUntil!)).toBe(false);
    expect(await repo.markFailed(id, 'late', first!.lockedUntil!)).toBe(false);
    await repo.release([id], first!.lockedUntil!);
    expect(await rowOf(t, to)).toMatchObject({ status: 'sending', attempts: 0, lockedUntil: second!.lockedUntil });

    expect(await repo.markSent(id, t.clock.now(), second!.lockedUntil!)).toBe(true);
    expect(await rowOf(t, to)).toMatchObject({ status: 'sent', attempts: 1, lockedUntil: null });
  });

  it('leaves a row alone when its send outlived the lease and another worker claimed it', async () => {
    const to = address('outlived');
    await queue(t, to);
    const other = createOutboxRepository(t.database);
    const real = createSmtpTransport(smtp.url);
    let otherClaim: Date | null = null;
    const slow: MailTransport = {
      timeoutMs: real.timeoutMs,
      close: () => real.close(),
      async send(mail) {
        t.clock.advance(LEASE_MS); // the send takes the whole lease (a clock jump)
        otherClaim = (await other.claimDue(t.clock.now(), 1, LEASE_MS))[0]!.lockedUntil;
        await real.send(mail);
      },
    };
    const deliverer = createDeliverer({
      repo: createOutboxRepository(t.database),
      transport: slow,
      clock: t.clock,
      logger: pino({ level: 'silent' }),
      from: 'x@example.com',
    });
    expect(await deliverer.runOnce()).toBe(0);
    expect(otherClaim).not.toBeNull();
    const row = await rowOf(t, to);
    expect(row).toMatchObject({ status: 'sending', attempts: 0, lockedUntil: otherClaim });
    expect(await other.markSent(row.id, t.clock.now(), otherClaim!)).toBe(true); // the other worker's send
  });

  it('starts a send only while its timeout fits in the lease, and hands back the rest', async () => {
    const emails = Array.from({ length: 6 }, () => address('slowbatch'));
    for (const to of emails) await queue(t, to);
    const real = createSmtpTransport(smtp.url);
    const SEND_MS = 3_000;
    const slow: MailTransport = {
      timeoutMs: real.timeoutMs,
      close: () => real.close(),
      async send(mail) {
        await real.send(mail);
        t.clock.advance(SEND_MS);
      },
    };
    const deliverer = createDeliverer({
      repo: createOutboxRepository(t.database),
      transport: slow,
      clock: t.clock,
      logger: pino({ level: 'silent' }),
      from: 'x@example.com',
    });
    // Sends may start while 10 s + 2 s of the 20 s lease are left: at 0, 3 and 6 s.
    expect(LEASE_MS - SMTP_TIMEOUT_MS - LEASE_MARGIN_MS).toBe(8_000);
    expect(await deliverer.runOnce()).toBe(3);
    const rows = await Promise.all(emails.map((to) => rowOf(t, to)));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'pending', 'pending', 'pending']);
    expect(rows.slice(3).every((r) => r.attempts === 0 && r.lockedUntil === null)).toBe(true);
    expect(await deliverer.runOnce()).toBe(3);
    for (const to of emails) expect(smtp.to(to)).toHaveLength(1);
  });
});

describe('retention of sent bodies', () => {
  const smtp = new TestSmtpServer();
  let t: TestApp;
  beforeAll(async () => {
    await smtp.start();
    t = makeTestApp({ SMTP_URL: smtp.url, OUTBOX_RETENTION_DAYS: '30' });
  });
  afterAll(async () => {
    await t.close();
    await smtp.stop();
  });

  /** Rows written directly (test set-up), as old outboxes hold them. */
  async function insertRows(
    prefix: string,
    n: number,
    fields: { status: 'pending' | 'sent' | 'failed'; at: Date; sentAt?: Date; nextAttemptAt?: Date },
  ): Promise<void> {
    for (let from = 0; from < n; from += 500) {
      const rows = Array.from({ length: Math.min(500, n - from) }, (_, i) => ({
        kind: 'test',
        toAddress: `${prefix}${from + i}@example.com`,
        subject: 'Old news',
        textBody: 'text',
        htmlBody: '<p>html</p>',
        messageId: `<${prefix}${from + i}@refer.example.com>`,
        status: fields.status,
        attempts: 1,
        nextAttemptAt: fields.nextAttemptAt ?? fields.at,
        createdAt: fields.at,
        sentAt: fields.sentAt ?? null,
      }));
      await t.db.insert(emailOutbox).values(rows);
    }
  }

  it('empties the bodies of messages sent before the retention and keeps everything else', async () => {
    const repo = createOutboxRepository(t.database);
    const t0 = t.clock.now();
    const old = address('old');
    await queue(t, old);
    expect(await t.deliverer.runOnce()).toBe(1);
    t.clock.advance(20 * DAY);
    const recent = address('recent');
    await queue(t, recent);
    expect(await t.deliverer.runOnce()).toBe(1);
    // More than one chunk of old sent rows, and old rows that were never sent.
    const bulk = PRUNE_CHUNK * 2 + 100;
    await insertRows('bulk', bulk, { status: 'sent', at: new Date(t0.getTime() - 5 * DAY), sentAt: new Date(t0.getTime() - 5 * DAY) });
    await insertRows('waiting', 1, { status: 'pending', at: new Date(t0.getTime() - 40 * DAY), nextAttemptAt: new Date(t0.getTime() + 365 * DAY) });
    await insertRows('gaveup', 1, { status: 'failed', at: new Date(t0.getTime() - 40 * DAY) });

    t.clock.advance(11 * DAY); // `old` is 31 days old, `recent` 11
    const before = await repo.counts();
    await t.deliverer.runOnce();

    const oldRow = await rowOf(t, old);
    expect(oldRow).toMatchObject({ status: 'sent', textBody: '', htmlBody: '', subject: `Hello ${old}`, toAddress: old });
    expect(oldRow.sentAt).toEqual(t0);
    expect(await rowOf(t, recent)).toMatchObject({ status: 'sent', textBody: `Text for ${recent}`, htmlBody: `<p>HTML for ${recent}</p>` });
    const bulkRows = await t.db
      .select({ textBody: emailOutbox.textBody, htmlBody: emailOutbox.htmlBody })
      .from(emailOutbox)
      .where(like(emailOutbox.toAddress, 'bulk%'));
    expect(bulkRows).toHaveLength(bulk);
    expect(bulkRows.filter((r) => r.textBody !== '' || r.htmlBody !== '')).toHaveLength(0);
    expect(await rowOf(t, 'waiting0@example.com')).toMatchObject({ status: 'pending', textBody: 'text', htmlBody: '<p>html</p>' });
    expect(await rowOf(t, 'gaveup0@example.com')).toMatchObject({ status: 'failed', textBody: 'text', htmlBody: '<p>html</p>' });
    expect(await repo.counts()).toEqual(before);
    expect(before.sent).toBe(bulk + 2);
  });

  it('prunes at most once an hour', async () => {
    await insertRows('late', 1, { status: 'sent', at: new Date(0), sentAt: new Date(0) });
    await t.deliverer.runOnce();
    expect((await rowOf(t, 'late0@example.com')).textBody).toBe('text');
    t.clock.advance(60 * 60 * 1000);
    await t.deliverer.runOnce();
    expect((await rowOf(t, 'late0@example.com')).textBody).toBe('');
  });
});
