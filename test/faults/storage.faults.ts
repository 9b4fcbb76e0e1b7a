import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { SqliteDatabase } from '../../src/db/database.js';
import { projectRoot } from '../../src/paths.js';
import { makeTestApp, tempDir } from '../helpers/app.js';
import { onPostgres, openDatabaseOf, userByEmail } from '../helpers/db.js';
import { STRONG_PASSWORD, csrfFor, signup, uniqueEmail } from '../helpers/forms.js';
import { psql } from '../helpers/pg.js';
import { HttpClient, startServer } from '../helpers/server.js';

/*
 * What people see when the storage cannot take a write: 503 with Retry-After and a page
 * that says nothing was saved, never a 403 or a bare 500; and never an account committed
 * behind an error page. /healthz says 503 so a load balancer can act.
 */

const STORAGE_PAGE = /nothing was saved/;

/** Whether this machine lets the tests mount a tmpfs (root in a container usually can). */
function canMount(): boolean {
  const dir = tempDir('mount-check-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const mountable = !onPostgres && canMount();

describe.skipIf(onPostgres)('SQLite that cannot write (query_only, as a read-only file behaves)', () => {
  const t = makeTestApp();
  afterAll(() => t.close());
  const writer = () => (t.database as SqliteDatabase).writer;

  it('answers sign-up, login and /healthz with 503 + Retry-After, saves nothing, and recovers', async () => {
    const known = uniqueEmail('known');
    expect((await signup(t.request(), { email: known })).status).toBe(303);
    writer().pragma('query_only = ON');
    try {
      const email = uniqueEmail('refused');
      const res = await signup(t.request(), { email });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.text).toMatch(STORAGE_PAGE);
      expect(await userByEmail(t.db, email)).toBeUndefined();

      const agent = t.request();
      const token = await csrfFor(agent, '/auth/login');
      const login = await agent.post('/auth/login').type('form').send({ email: known, password: STRONG_PASSWORD, _csrf: token });
      expect(login.status).toBe(503);

      const json = await t.request().post('/referral/process_referral').set('accept', 'application/json').send({ referral_code: 'AAAAAAAA' });
      expect([401, 403, 503]).toContain(json.status);

      const health = await t.request().get('/healthz');
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: 'unavailable', reason: 'the database cannot take writes' });
    } finally {
      writer().pragma('query_only = OFF');
    }
    await new Promise((r) => setTimeout(r, 1_100)); // the health probe is reused for a second
    expect((await t.request().get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await signup(t.request())).status).toBe(303);
  });
});

describe.skipIf(onPostgres)('SQLite whose file cannot grow (a page limit, as a full disk behaves)', () => {
  const t = makeTestApp();
  afterAll(() => t.close());

  it('either commits a sign-up and logs the person in, or answers 503 and keeps nothing', async () => {
    const writer = (t.database as SqliteDatabase).writer;
    expect((await signup(t.request())).status).toBe(303);
    writer.pragma(`max_page_count = ${Number(writer.pragma('page_count', { simple: true }))}`);
    const outcomes: { email: string; status: number; dashboard?: number }[] = [];
    for (let i = 0; i < 60; i++) {
      const agent = t.request();
      const email = uniqueEmail('full');
      const res = await signup(agent, { email, name: `Full ${i} ${'x'.repeat(40)}` });
      outcomes.push({ email, status: res.status, dashboard: res.status === 303 ? (await agent.get('/dashboard')).status : undefined });
      if (res.status === 503) expect(res.text).toMatch(STORAGE_PAGE);
    }
    writer.pragma('max_page_count = 4294967294');
    expect(outcomes.filter((o) => o.status === 503).length).toBeGreaterThan(0);
    for (const o of outcomes) {
      expect([303, 503]).toContain(o.status);
      const user = await userByEmail(t.db, o.email);
      if (o.status === 303) {
        expect(user).toBeDefined();
        expect(o.dashboard).toBe(200);
      } else {
        expect(user).toBeUndefined();
      }
    }
  });
});

describe.skipIf(onPostgres)('SQLite locked by another process past the busy timeout', () => {
  const t = makeTestApp();
  afterAll(() => t.close());

  it('answers 503 + Retry-After (SQLITE_BUSY) and saves nothing, then works once the lock goes', async () => {
    // Another process holding the write lock (a backup tool, a stuck script).
    const other = new Database(t.config.databaseFile);
    other.exec('BEGIN IMMEDIATE');
    try {
      const email = uniqueEmail('busy');
      const res = await signup(t.request(), { email });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.text).toMatch(STORAGE_PAGE);
      expect(await userByEmail(t.db, email)).toBeUndefined();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await signup(t.request())).status).toBe(303);
  });
});

describe.skipIf(!onPostgres)('PostgreSQL that refuses writes (a read-only database)', () => {
  const t = makeTestApp();
  afterAll(() => t.close());

  it('answers 503 + Retry-After to a sign-up, saves nothing, and says so on /healthz', async () => {
    const url = new URL(t.config.databaseUrl!);
    const name = url.pathname.slice(1);
    psql(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    // Settings apply to new connections: end the pool's idle ones.
    psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
    try {
      const email = uniqueEmail('readonly');
      let res = await signup(t.request(), { email });
      // The first request may meet a connection the server just terminated: that too is a 503.
      if (res.status === 503 && !/nothing was saved/.test(res.text)) res = await signup(t.request(), { email });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.text).toMatch(STORAGE_PAGE);
      expect(await userByEmail(t.db, email)).toBeUndefined();
      expect((await t.request().get('/healthz')).status).toBe(503);
    } finally {
      psql(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
      psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
    }
    let after = await signup(t.request());
    if (after.status === 503) after = await signup(t.request());
    expect(after.status).toBe(303);
  });
});

/** Runs the real entry point until it exits; resolves with its exit code and stderr. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        PORT: '0',
        HOST: '127.0.0.1',
        SESSION_SECRET: 'fault-test-secret-fault-test-secret-01',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe.skipIf(onPostgres)('start-up where the database cannot be opened', () => {
  it('exits 1 with one clear line when the directory cannot be created', async () => {
    const file = tempDir('not-a-dir-');
    fs.writeFileSync(path.join(file, 'plain-file'), 'x');
    const { code, stderr } = await runToExit({ DATABASE_FILE: path.join(file, 'plain-file', 'data', 'app.db') });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^Cannot open the SQLite database .*plain-file\/data\/app\.db: .*Check that its directory exists and is writable/);
  });

  it.skipIf(!mountable)('exits 1 with one clear line on a read-only disk', async () => {
    const dir = tempDir('readonly-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', dir]);
    try {
      const { code, stderr } = await runToExit({ DATABASE_FILE: path.join(dir, 'app.db') });
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^Cannot open the SQLite database .*app\.db: .*\((SQLITE_CANTOPEN|SQLITE_READONLY|EROFS)\)/);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});

describe.skipIf(!mountable)('a real full disk (a small tmpfs under the server)', () => {
  it('answers 303 (committed, logged in) or 503 (nothing kept), never 403 or 500; /healthz follows; it recovers', async () => {
    const dir = tempDir('full-disk-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
    const server = await startServer({ RATE_LIMITS: 'false' }, dir);
    const filler = path.join(dir, 'filler');
    try {
      // Leave a few pages: enough to start, too little for a hundred sign-ups.
      const free = () => fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize;
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 96 * 1024)));
      const outcomes: { email: string; status: number; retryAfter: string | null; text: string }[] = [];
      for (let i = 0; i < 120; i++) {
        const client = new HttpClient(server.url);
        const email = `full${i}@disk.test`;
        const page = await client.request('GET', '/auth/signup');
        const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
        const res = await client.request('POST', '/auth/signup', {
          form: { name: `Full Disk ${i}`, email, password: STRONG_PASSWORD, referral_code: '', _csrf: token },
        });
        outcomes.push({ email, status: res.status, retryAfter: res.headers.get('retry-after'), text: res.text });
      }
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(503);

      fs.rmSync(filler);
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      const statuses = new Set(outcomes.map((o) => o.status));
      expect([...statuses].every((s) => s === 303 || s === 503)).toBe(true);
      expect(outcomes.some((o) => o.status === 503)).toBe(true);
      const db = openDatabaseOf(server);
      try {
        for (const o of outcomes) {
          const user = await userByEmail(db.db, o.email);
          if (o.status === 303) expect(user, o.email).toBeDefined();
          else {
            expect(o.retryAfter).toBe('30');
            expect(o.text).toMatch(STORAGE_PAGE);
            expect(user, `${o.email} answered 503 but was committed`).toBeUndefined();
          }
        }
      } finally {
        await db.close();
      }
      // No half-written email files were left behind.
      const mailDir = path.join(dir, 'mail');
      if (fs.existsSync(mailDir)) for (const f of fs.readdirSync(mailDir)) expect(fs.statSync(path.join(mailDir, f)).size, f).toBeGreaterThan(0);
      const client = new HttpClient(server.url);
      const token = /name="_csrf" value="([^"]+)"/.exec((await client.request('GET', '/auth/signup')).text)![1]!;
      const again = await client.request('POST', '/auth/signup', {
        form: { name: 'After', email: 'after@disk.test', password: STRONG_PASSWORD, referral_code: '', _csrf: token },
      });
      expect(again.status).toBe(303);
    } finally {
      await server.stop();
      execFileSync('umount', ['-l', dir]);
    }
  });
});
