/**
 * npm run soak [-- --minutes 10]
 *
 * A soak: the built server (dist/server.js) with two workers over a fresh SQLite file,
 * under mixed traffic for N minutes: anonymous page views, form views, sign-ups, logins
 * and dashboards, each from its own load-generator process at a fixed rate. Every 10 s
 * it samples the memory of every process, the database and WAL sizes and the row counts
 * that could grow without bound (sessions, rate limits, the outbox). Writes the figures
 * into docs/reliability.md between the soak markers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { freePort } from '../test/helpers/net.js';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const minutes = Number(values.minutes);
const dir = path.join(root, 'bench/.data/soak');
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, 'app.db');
const PASSWORD = 'soak-password-123 long enough';

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  } catch {
    return 0;
  }
}
const workerPids = (primary: number) =>
  execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  const port = await freePort();
  const server = spawn(process.execPath, ['--max-semi-space-size=8', 'dist/server.js'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: `http://127.0.0.1:${port}`,
      DATABASE_FILE: file,
      SESSION_SECRET: 'soak-secret-soak-secret-soak-secret-0123',
      BCRYPT_COST: '4',
      WEB_CONCURRENCY: '2',
      RATE_LIMITS: 'false',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(server);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      if (i > 300) throw new Error('server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  // One account whose dashboard and login the load repeats.
  const form = await fetch(`${base}/auth/signup`);
  const cookie = form.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ');
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const made = await fetch(`${base}/auth/signup`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ name: 'Soak Owner', email: 'owner@soak.test', password: PASSWORD, referral_code: '', _csrf: token }),
  });
  if (made.status !== 303) throw new Error(`could not create the soak account: ${made.status}`);

  const durationMs = minutes * 60_000;
  const loads: { name: string; rate: number; steps: object[]; extra?: object }[] = [
    {
      name: 'page views',
      rate: 100,
      steps: [
        { method: 'GET', path: '/referral/leaderboard' },
        { method: 'GET', path: '/' },
      ],
    },
    {
      name: 'form views',
      rate: 20,
      steps: [
        { method: 'GET', path: '/auth/login' },
        { method: 'GET', path: '/auth/signup' },
      ],
    },
    {
      name: 'sign-ups',
      rate: 5,
      steps: [
        { method: 'GET', path: '/auth/signup' },
        { method: 'POST', path: '/auth/signup', kind: 'signup' },
      ],
      extra: { signup: { password: PASSWORD } },
    },
    {
      name: 'logins',
      rate: 2,
      steps: [
        { method: 'GET', path: '/auth/login' },
        { method: 'POST', path: '/auth/login', kind: 'login' },
      ],
      extra: { login: { email: 'owner@soak.test', password: PASSWORD } },
    },
  ];
  const results = loads.map(
    (l) =>
      new Promise<{ name: string; out: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', 'bench/load.ts', JSON.stringify({ base, mode: 'rate', rate: l.rate, durationMs, connections: 16, steps: l.steps, ...l.extra })],
          {
            cwd: root,
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        children.push(child);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve({ name: l.name, out }) : reject(new Error(`${l.name} load exited ${code}`))));
      }),
  );

  const samples: {
    t: number;
    primaryMb: number;
    workersMb: number[];
    dbKb: number;
    walKb: number;
    users: number;
    sessions: number;
    rateLimits: number;
    outbox: number;
    bodiesKb: number;
  }[] = [];
  const started = Date.now();
  const reader = () => new Database(file, { readonly: true, fileMustExist: true });
  while (Date.now() - started < durationMs) {
    await new Promise((r) => setTimeout(r, 10_000));
    const db = reader();
    const one = (q: string) => Number((db.prepare(q).get() as { n: number }).n);
    samples.push({
      t: Math.round((Date.now() - started) / 1000),
      primaryMb: rssKb(server.pid!) / 1024,
      workersMb: workerPids(server.pid!).map((p) => rssKb(p) / 1024),
      dbKb: size(file) / 1024,
      walKb: size(`${file}-wal`) / 1024,
      users: one('select count(*) as n from users'),
      sessions: one('select count(*) as n from sessions'),
      rateLimits: one('select count(*) as n from rate_limits'),
      outbox: one('select count(*) as n from email_outbox'),
      bodiesKb: one('select coalesce(sum(length(text_body) + length(html_body)), 0) as n from email_outbox') / 1024,
    });
    db.close();
    const s = samples.at(-1)!;
    console.log(
      `${s.t}s workers ${s.workersMb.map((m) => m.toFixed(0)).join('/')} MB, db ${s.dbKb.toFixed(0)} KB, wal ${s.walKb.toFixed(0)} KB, users ${s.users}, sessions ${s.sessions}`,
    );
  }
  const outs = await Promise.all(results);
  server.kill('SIGTERM');

  const first = samples.find((s) => s.t >= 60) ?? samples[0]!;
  const last = samples.at(-1)!;
  const perUser = (last.dbKb - first.dbKb) / Math.max(1, last.users - first.users);
  const lines = [
    `Soak of ${minutes} minutes, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: \`dist/server.js\`, two workers, one SQLite file, bcrypt cost 4.`,
    '',
    '| Load | Rate | Requests | Statuses |',
    '|---|---|---|---|',
    ...outs.map(({ name, out }) => {
      const r = JSON.parse(out) as { iterations: number; statuses: Record<string, number> };
      return `| ${name} | ${loads.find((l) => l.name === name)!.rate}/s | ${r.iterations} | ${Object.entries(r.statuses)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')} |`;
    }),
    '',
    '| Time (s) | Worker RSS (MB) | Primary RSS (MB) | Database (KB) | WAL (KB) | Users | Sessions | Rate-limit rows | Outbox rows | Outbox bodies (KB) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...samples
      .filter((s, i) => i % 6 === 5 || s === last)
      .map(
        (s) =>
          `| ${s.t} | ${s.workersMb.map((m) => m.toFixed(0)).join(' / ')} | ${s.primaryMb.toFixed(0)} | ${s.dbKb.toFixed(0)} | ${s.walKb.toFixed(0)} | ${s.users} | ${s.sessions} | ${s.rateLimits} | ${s.outbox} | ${s.bodiesKb.toFixed(0)} |`,
      ),
    '',
    `From minute 1 to the end: worker RSS ${first.workersMb.map((m) => m.toFixed(0)).join(' / ')} → ${last.workersMb.map((m) => m.toFixed(0)).join(' / ')} MB; ` +
      `the database grew ${(last.dbKb - first.dbKb).toFixed(0)} KB for ${last.users - first.users} sign-ups (${perUser.toFixed(1)} KB each, their rows and queued emails); ` +
      `the WAL peaked at ${Math.max(...samples.map((s) => s.walKb)).toFixed(0)} KB; sessions ${first.sessions} → ${last.sessions} (one per sign-up and login, none for form views).`,
  ];
  const doc = path.join(root, 'docs/reliability.md');
  const text = fs.readFileSync(doc, 'utf8');
  const start = '<!-- soak:start -->';
  const end = '<!-- soak:end -->';
  fs.writeFileSync(doc, `${text.slice(0, text.indexOf(start) + start.length)}\n${lines.join('\n')}\n${text.slice(text.indexOf(end))}`);
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
