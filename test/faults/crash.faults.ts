import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabaseOf, userByEmail } from '../helpers/db.js';
import { STRONG_PASSWORD } from '../helpers/forms.js';
import { HttpClient, startServer, type RunningServer } from '../helpers/server.js';
import { allZero, brokenInvariants } from './invariants.js';

/*
 * kill -9 in the middle of concurrent referred sign-ups, three times over one database:
 * nothing a person was told had happened is lost, and every count, rank structure and
 * queued email agrees with the rows. On SQLite over a file, on PostgreSQL over one database.
 */

const ROUNDS = 3;
const SIGNUPS = 40;

let first: RunningServer;
const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers.reverse()) await s.stop('SIGKILL');
  fs.rmSync(first.dir, { recursive: true, force: true });
});

/** The same database again: the SQLite file in the first server's folder, or its PostgreSQL database. */
const again = () => startServer(first.databaseUrl ? { DATABASE_URL: first.databaseUrl } : {}, first.databaseUrl ? undefined : first.dir);

async function signupOn(server: RunningServer, email: string, code: string): Promise<number> {
  const client = new HttpClient(server.url);
  const token = await client.csrf('/auth/signup');
  const res = await client.request('POST', '/auth/signup', {
    form: { name: `Crash ${email}`, email, password: STRONG_PASSWORD, referral_code: code, _csrf: token },
  });
  return res.status;
}

describe('kill -9 during concurrent referred sign-ups', () => {
  it(`loses no confirmed sign-up and breaks no invariant, ${ROUNDS} times over`, async () => {
    first = await startServer({ RATE_LIMITS: 'false' });
    servers.push(first);
    const owner = new HttpClient(first.url);
    const token = await owner.csrf('/auth/signup');
    expect(
      (
        await owner.request('POST', '/auth/signup', {
          form: { name: 'Crash Owner', email: 'owner@crash.test', password: STRONG_PASSWORD, referral_code: '', _csrf: token },
        })
      ).status,
    ).toBe(303);
    const code = /\/r\/([0-9A-Z]{8})/.exec((await owner.request('GET', '/dashboard')).text)![1]!;

    let server = first;
    const confirmed: string[] = [];
    let interrupted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      let done = 0;
      const killed = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          // Kill once a quarter of the sign-ups have answered: the rest are in flight.
          if (done >= SIGNUPS / 4) {
            clearInterval(check);
            server.process.kill('SIGKILL');
            resolve();
          }
        }, 2);
      });
      const results = await Promise.all(
        Array.from({ length: SIGNUPS }, async (_, i) => {
          const email = `r${round}-${i}@crash.test`;
          try {
            const status = await signupOn(server, email, code);
            done += 1;
            return { email, status };
          } catch {
            done += 1;
            return { email, status: 0 };
          }
        }),
      );
      await killed;
      for (const r of results) {
        if (r.status === 303) confirmed.push(r.email);
        else interrupted += 1;
      }
      server = await again();
      servers.push(server);
    }
    expect(confirmed.length).toBeGreaterThan(0);
    expect(interrupted).toBeGreaterThan(0);

    const database = openDatabaseOf(server);
    try {
      for (const email of confirmed) expect(await userByEmail(database.db, email), email).toBeDefined();
      const broken = await brokenInvariants(database.db);
      expect(broken).toEqual(allZero(broken));
    } finally {
      await database.close();
    }
    // The survivor serves the owner's count as the rows say.
    const after = new HttpClient(server.url);
    const login = await after.csrf('/auth/login');
    expect((await after.request('POST', '/auth/login', { form: { email: 'owner@crash.test', password: STRONG_PASSWORD, _csrf: login } })).status).toBe(303);
    expect((await after.request('GET', '/dashboard')).status).toBe(200);
  });
});
