import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRONG_PASSWORD } from './helpers/forms.js';
import { HttpClient, startServer, type RunningServer } from './helpers/server.js';
import { TestSmtpServer } from './helpers/smtp.js';

// Two app servers (separate processes, as on two machines) over one database: under
// `npm run test:pg` one PostgreSQL database, otherwise one SQLite file. Everything a
// person or an operator sees must be the same whichever server answers.
const smtp = new TestSmtpServer();
let a: RunningServer;
let b: RunningServer;

beforeAll(async () => {
  await smtp.start();
  const env = { SMTP_URL: smtp.url, RATE_LOGIN_PER_EMAIL_IP: '5' };
  // The compiled dist/server.js, as `npm start` runs it on each machine.
  a = await startServer(env, undefined, { dist: true });
  b = await startServer({ ...env, ...(a.databaseUrl ? { DATABASE_URL: a.databaseUrl } : {}) }, a.databaseUrl ? undefined : a.dir, { dist: true });
}, 60_000);
afterAll(async () => {
  await b.stop();
  await a.stop();
  await smtp.stop();
  fs.rmSync(a.dir, { recursive: true, force: true });
  fs.rmSync(b.dir, { recursive: true, force: true });
});

/** The same browser talking to whichever server: the cookie jar moves with it. */
function browserOn(server: RunningServer, from?: HttpClient): HttpClient {
  const client = new HttpClient(server.url);
  if (from) (client as unknown as { cookies: Map<string, string> }).cookies = (from as unknown as { cookies: Map<string, string> }).cookies;
  return client;
}

async function signup(client: HttpClient, email: string, name: string, code = '') {
  const token = await client.csrf('/auth/signup');
  return client.request('POST', '/auth/signup', { form: { name, email, password: STRONG_PASSWORD, referral_code: code, _csrf: token } });
}

describe('two app servers over one database', () => {
  let code = '';

  it('share sessions: signed up on one, logged in on the other', async () => {
    const onA = browserOn(a);
    expect((await signup(onA, 'owner@two.test', 'Two Owner')).status).toBe(303);
    const dash = await browserOn(b, onA).request('GET', '/dashboard');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('Hi Two Owner');
    code = /\/r\/([0-9A-Z]{8})/.exec(dash.text)![1]!;
  });

  it('count 30 referred sign-ups sent to both at once exactly, and both serve the new ranking', async () => {
    const friends = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const client = browserOn(i % 2 ? a : b);
        const token = await client.csrf('/auth/signup');
        return () =>
          client.request('POST', '/auth/signup', {
            form: { name: `Friend ${i}`, email: `friend${i}@two.test`, password: STRONG_PASSWORD, referral_code: code, _csrf: token },
          });
      }),
    );
    const results = await Promise.all(friends.map((send) => send()));
    expect(results.map((r) => r.status)).toEqual(Array<number>(30).fill(303));
    for (const server of [a, b]) {
      const board = JSON.parse((await browserOn(server).request('GET', '/api/leaderboard')).text) as { entries: unknown[] };
      expect(board.entries).toEqual([{ rank: 1, name: 'Two Owner', referrals: 30 }]);
    }
  });

  it('share rate limits: failed logins on either server count against one budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const client = browserOn(i % 2 ? a : b);
      const token = await client.csrf('/auth/login');
      statuses.push((await client.request('POST', '/auth/login', { form: { email: 'owner@two.test', password: 'not the password', _csrf: token } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('deliver every queued email exactly once between them', async () => {
    // 31 welcome emails (the owner and 30 friends); the owner is unconfirmed, so no
    // "joined with your link" or reward notices go out.
    const deadline = Date.now() + 30_000;
    while (smtp.received.length < 31 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2_500)); // both delivery loops poll again: nothing more may arrive
    expect(smtp.received.length).toBe(31);
    expect(new Set(smtp.received.map((m) => m.messageId)).size).toBe(31);
    expect(new Set(smtp.received.map((m) => m.to)).size).toBe(31);
  }, 40_000);
});
