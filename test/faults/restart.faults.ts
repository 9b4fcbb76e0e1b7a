import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabaseOf, userByEmail } from '../helpers/db.js';
import { STRONG_PASSWORD } from '../helpers/forms.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { allZero, brokenInvariants } from './invariants.js';

/*
 * A rolling restart (SIGHUP, two workers) under keep-alive load: every request answered,
 * no socket error, every sign-up that answered 303 committed. Then a stop under load.
 */

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ WEB_CONCURRENCY: '2', RATE_LIMITS: 'false' });
});
afterAll(async () => {
  await server.stop('SIGKILL');
  fs.rmSync(server.dir, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  error?: string;
}

/** One request on a keep-alive agent, as a browser or a load balancer would send it. */
function send(
  agent: http.Agent,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; cookies: string[] }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers: { ...headers, ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!) }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

/**
 * `connections` keep-alive clients, each looping: a leaderboard page, the sign-up form,
 * a sign-up with its token. Runs until `stop` resolves; returns every outcome.
 */
async function load(connections: number, stop: Promise<void>) {
  let running = true;
  void stop.finally(() => (running = false)).catch(() => {});
  const outcomes: Outcome[] = [];
  const signups: { email: string; status: number }[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (running) {
        try {
          outcomes.push({ status: (await send(agent, 'GET', '/referral/leaderboard')).status });
          const form = await send(agent, 'GET', '/auth/signup');
          outcomes.push({ status: form.status });
          const token = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
          const email = `load${c}-${n++}@restart.test`;
          const body = new URLSearchParams({ name: `Load ${c}`, email, password: STRONG_PASSWORD, referral_code: '', _csrf: token }).toString();
          const res = await send(agent, 'POST', '/auth/signup', body, { cookie: form.cookies.join('; ') });
          outcomes.push({ status: res.status });
          signups.push({ email, status: res.status });
        } catch (err) {
          outcomes.push({ status: 0, error: err instanceof Error ? err.message : String(err) });
        }
      }
      agent.destroy();
    }),
  );
  return { outcomes, signups };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('SIGHUP rolling restart under keep-alive load', () => {
  it('answers every request, drops no connection and keeps every 303 sign-up', async () => {
    const stop = (async () => {
      await sleep(1_000);
      server.process.kill('SIGHUP');
      // Two workers, each replaced after its successor listens, then drained for 1.5 s.
      await sleep(12_000);
    })();
    const { outcomes, signups } = await load(16, stop);
    const failures = outcomes.filter((o) => o.status !== 200 && o.status !== 303);
    expect(outcomes.length).toBeGreaterThan(200);
    expect(failures).toEqual([]);
    const database = openDatabaseOf(server);
    try {
      for (const s of signups.filter((x) => x.status === 303)) expect(await userByEmail(database.db, s.email), s.email).toBeDefined();
      const broken = await brokenInvariants(database.db);
      expect(broken).toEqual(allZero(broken));
    } finally {
      await database.close();
    }
  });

  it('stops within the cap on SIGTERM while the load goes on', async () => {
    let code: number | null | undefined;
    await load(
      8,
      (async () => {
        await sleep(500);
        code = await server.stop('SIGTERM');
      })(),
    );
    expect(code).toBe(0);
  });
});
