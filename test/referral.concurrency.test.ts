import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { countOf, openDatabaseOf, userByEmail } from './helpers/db.js';
import { STRONG_PASSWORD } from './helpers/forms.js';
import { HttpClient, startServer, type RunningServer } from './helpers/server.js';

// A real server process over a real database (a SQLite file or PostgreSQL), hit by
// parallel HTTP requests.
let server: RunningServer;
let database: Database;
beforeAll(async () => {
  server = await startServer();
  database = openDatabaseOf(server);
});
afterAll(async () => {
  await database.close();
  await server.stop();
  fs.rmSync(server.dir, { recursive: true, force: true });
});

async function signupClient(email: string, referralCode = '') {
  const client = new HttpClient(server.url);
  const token = await client.csrf('/auth/signup');
  return {
    client,
    submit: () =>
      client.request('POST', '/auth/signup', {
        form: { name: 'Parallel', email, password: STRONG_PASSWORD, referral_code: referralCode, _csrf: token },
      }),
  };
}

describe('concurrency over a shared database', () => {
  it('credits exactly as many referrals as there were successful sign-ups (30 at once)', async () => {
    const owner = await signupClient('owner@parallel.test');
    expect((await owner.submit()).status).toBe(303);
    const code = (await userByEmail(database.db, 'owner@parallel.test'))!.referralCode;

    const friends = await Promise.all(Array.from({ length: 30 }, (_, i) => signupClient(`friend${i}@parallel.test`, code)));
    const results = await Promise.all(friends.map((f) => f.submit()));
    const created = results.filter((r) => r.status === 303).length;
    expect(created).toBe(30);

    const owner_ = (await userByEmail(database.db, 'owner@parallel.test'))!;
    const rows = await countOf(database.db, "select count(*) from referrals where referrer_id = ? and status = 'credited'", owner_.id);
    expect(owner_.referralsCount).toBe(created);
    expect(rows).toBe(created);
  });

  it('credits one referral when one user applies a code ten times at once', async () => {
    const referrer = await signupClient('applied-referrer@parallel.test');
    await referrer.submit();
    const me = await signupClient('applier@parallel.test');
    await me.submit();
    const code = (await userByEmail(database.db, 'applied-referrer@parallel.test'))!.referralCode;
    const token = await me.client.csrf('/dashboard');
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        me.client.request('POST', '/referral/process_referral', { json: { referral_code: code }, headers: { 'x-csrf-token': token } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
    const count = (await userByEmail(database.db, 'applied-referrer@parallel.test'))!.referralsCount;
    expect(count).toBe(1);
  });

  it('creates exactly one account when 20 sign-ups race for one email', async () => {
    const racers = await Promise.all(Array.from({ length: 20 }, () => signupClient('Same.Person@Parallel.test')));
    const results = await Promise.all(racers.map((r) => r.submit()));
    expect(results.filter((r) => r.status === 303)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    const n = await countOf(database.db, 'select count(*) from users where email_normalized = ?', 'same.person@parallel.test');
    expect(n).toBe(1);
  });

  it('finishes in-flight requests and exits 0 on SIGTERM', async () => {
    const slow = await signupClient('last-one@parallel.test');
    const pending = slow.submit();
    await new Promise((r) => setTimeout(r, 5));
    const exit = server.stop('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(303);
    expect(await exit).toBe(0);
  });
});
