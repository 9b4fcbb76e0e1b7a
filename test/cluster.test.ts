import http from 'node:http';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRONG_PASSWORD } from './helpers/forms.js';
import { HttpClient, startServer, type RunningServer } from './helpers/server.js';

/** A GET on a fresh connection, so the cluster's round-robin spreads them over workers. */
function freshGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http
      .get(url, { agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
  });
}

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ WEB_CONCURRENCY: '2', RATE_LOGIN_PER_EMAIL_IP: '5' });
});
afterAll(async () => {
  await server.stop();
  fs.rmSync(server.dir, { recursive: true, force: true });
});

async function signup(client: HttpClient, email: string, name: string, code = '') {
  const token = await client.csrf('/auth/signup');
  return client.request('POST', '/auth/signup', { form: { name, email, password: STRONG_PASSWORD, referral_code: code, _csrf: token } });
}

describe('WEB_CONCURRENCY=2 (node:cluster over one SQLite file)', () => {
  it('serves a new ranking from every worker right after a change', async () => {
    for (let i = 0; i < 6; i++) expect(JSON.parse((await freshGet(`${server.url}/api/leaderboard`)).body).totalRanked).toBe(0); // warm both caches
    const owner = new HttpClient(server.url);
    expect((await signup(owner, 'owner@cluster.test', 'Cluster Owner')).status).toBe(303);
    const dash = await owner.request('GET', '/dashboard');
    const code = /\/r\/([0-9A-Z]{8})/.exec(dash.text)![1]!;
    expect((await signup(new HttpClient(server.url), 'friend@cluster.test', 'Cluster Friend', code)).status).toBe(303);
    const views = await Promise.all(Array.from({ length: 10 }, () => freshGet(`${server.url}/api/leaderboard`)));
    for (const v of views) expect(JSON.parse(v.body).entries).toEqual([{ rank: 1, name: 'Cluster Owner', referrals: 1 }]);
  });

  it('shares sessions and rate limits between workers', async () => {
    const client = new HttpClient(server.url);
    expect((await signup(client, 'shared@cluster.test', 'Shared')).status).toBe(303);
    for (let i = 0; i < 6; i++) expect((await client.request('GET', '/dashboard', { headers: { connection: 'close' } })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const c = new HttpClient(server.url);
      const token = await c.csrf('/auth/login');
      statuses.push(
        (
          await c.request('POST', '/auth/login', {
            form: { email: 'shared@cluster.test', password: 'wrong password!', _csrf: token },
            headers: { connection: 'close' },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('restarts gracefully on SIGHUP without refusing requests', async () => {
    const results: number[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        try {
          results.push((await freshGet(`${server.url}/healthz`)).status);
        } catch {
          results.push(0);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    server.process.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 6000));
    running = false;
    await load;
    expect(results.length).toBeGreaterThan(20);
    expect(results.filter((s) => s !== 200)).toEqual([]);
    expect(JSON.parse((await freshGet(`${server.url}/api/leaderboard`)).body).totalRanked).toBe(1);
  }, 30_000);

  it('stops every worker and exits 0 on SIGTERM', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 30_000);
});

describe('SIGTERM in the middle of a SIGHUP restart', () => {
  it('still stops every worker, the one still booting included, and exits 0', async () => {
    const busy = await startServer({ WEB_CONCURRENCY: '2' });
    try {
      busy.process.kill('SIGHUP');
      // The replacement worker is forked but not yet listening when the stop arrives.
      await new Promise((r) => setTimeout(r, 150));
      const started = Date.now();
      expect(await busy.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      fs.rmSync(busy.dir, { recursive: true, force: true });
    }
  }, 30_000);
});
