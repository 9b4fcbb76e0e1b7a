import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_BUFFER_BYTES } from '../src/http/logging.js';
import { projectRoot } from '../src/paths.js';
import { relaxedLimits, tempDir } from './helpers/app.js';
import { freePort } from './helpers/net.js';

/**
 * Logging must never stall the server: with stdout a pipe nobody reads (a stuck log
 * shipper) or whose reader is gone, requests are still answered and SIGTERM still ends the
 * process. The pipe fills after a few hundred KB. (pino's own default destination buffered
 * without bound and, at exit, retried the write to the full pipe forever.)
 */

type Child = ChildProcessByStdio<null, Readable, Readable>;
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const children: Child[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Resolves `exited` when the process ends (its stdout may stay unread), `stderr` once stderr is closed. */
function track(child: Child): { exited: Promise<Exit>; stderr: () => Promise<string> } {
  children.push(child);
  const err: string[] = [];
  child.stderr.on('data', (d: Buffer) => err.push(d.toString()));
  const closed = new Promise((resolve) => child.stderr.once('close', resolve));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { exited, stderr: () => closed.then(() => err.join('')) };
}

/** The real entry point, its stdout a pipe this test never reads (the port is chosen up front). */
async function startServerWithUnreadStdout() {
  const port = await freePort();
  const dir = tempDir('referral-logging-');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_FILE: path.join(dir, 'app.db'),
      SESSION_SECRET: 'logging-test-secret-logging-test-secret-01',
      BCRYPT_COST: '4',
      LOG_LEVEL: 'info',
      ...(relaxedLimits as Record<string, string>),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { exited, stderr } = track(child);
  const url = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => (gone = true));
  for (const deadline = Date.now() + 20_000; ;) {
    if (gone) throw new Error(`server exited before listening: ${await stderr()}`);
    if (Date.now() > deadline) throw new Error('server did not start within 20 s');
    const ok = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, exited, stderr };
}

// Each request logs one line of about 12 KB: its query string is logged with the path.
const PAD = 12_000;

/** `count` GETs, 16 at a time, each logging a ~12 KB line. Resolves to the count per status. */
async function flood(url: string, count: number): Promise<Record<number, number>> {
  const pad = 'x'.repeat(PAD);
  const statuses: Record<number, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const route = i % 10 === 0 ? '/referral/leaderboard' : '/healthz';
      // A blocked event loop shows up here as a timeout, not as a hung test.
      const res = await fetch(`${url}${route}?i=${i}&pad=${pad}`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return statuses;
}

describe('logging to a stdout nobody reads', () => {
  it('keeps answering requests, and SIGTERM still stops the server', { timeout: 60_000 }, async () => {
    // About 12 MB of log lines: the pipe is full after a few hundred KB, the logger's buffer
    // after LOG_BUFFER_BYTES; everything past that is dropped.
    const requests = 1000;
    expect(requests * PAD).toBeGreaterThan(2 * LOG_BUFFER_BYTES);
    const server = await startServerWithUnreadStdout();

    expect(await flood(server.url, requests)).toEqual({ 200: requests });

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(await server.stderr()).toBe('');
  });

  it('stops on SIGTERM right after the reader went away, with lines still waiting to be written', { timeout: 60_000 }, async () => {
    const server = await startServerWithUnreadStdout();
    expect(await flood(server.url, 200)).toEqual({ 200: 200 }); // ~2.4 MB: the pipe is full
    server.child.stdout.destroy();

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(await server.stderr()).toBe('');
  });

  it('keeps serving after the reader went away (EPIPE), and SIGTERM still stops the server', { timeout: 60_000 }, async () => {
    const server = await startServerWithUnreadStdout();
    expect(await flood(server.url, 200)).toEqual({ 200: 200 });
    server.child.stdout.destroy();

    expect(await flood(server.url, 200)).toEqual({ 200: 200 });

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(await server.stderr()).toBe('');
  });
});

describe('flushLogs and the count of dropped lines', () => {
  const LINES = 10_000; // ~10 MB in one synchronous burst: more than the buffer holds
  const runBurst = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'test/fixtures/log-burst.ts')], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LINES: String(LINES), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { exited, stderr } = track(child);
    const report = async () => JSON.parse((await stderr()).trim()) as { dropped: number; waitedMs: number };
    return { child, exited, report };
  };

  it('gives up at the deadline when stdout is not read', { timeout: 30_000 }, async () => {
    const burst = runBurst({ FLUSH_MS: '300' });
    expect(await burst.exited).toEqual({ code: 0, signal: null });
    const { dropped, waitedMs } = await burst.report();
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(LINES);
    expect(waitedMs).toBeGreaterThanOrEqual(250); // it did wait: the pipe never drained
  });

  it('writes every line it kept, intact, and reports the dropped ones once stdout drains', { timeout: 30_000 }, async () => {
    const burst = runBurst({ FLUSH_MS: '20000' });
    const entries: { msg?: string; i?: number; droppedLogLines?: number; droppedLogLinesTotal?: number }[] = [];
    const torn: string[] = [];
    for await (const line of readline.createInterface({ input: burst.child.stdout })) {
      try {
        entries.push(JSON.parse(line) as (typeof entries)[number]);
      } catch {
        torn.push(line.slice(0, 80));
      }
    }
    expect(await burst.exited).toEqual({ code: 0, signal: null });
    const { dropped } = await burst.report();

    expect(torn).toEqual([]);
    const written = entries.filter((e) => e.msg === 'burst').map((e) => e.i);
    expect(dropped).toBeGreaterThan(0);
    expect(written.length + dropped).toBe(LINES);
    // The buffer keeps the oldest lines and drops the newest, in order.
    expect(written).toEqual(Array.from({ length: written.length }, (_, i) => i));
    const reports = entries.filter((e) => e.droppedLogLines !== undefined);
    expect(reports).toEqual([expect.objectContaining({ droppedLogLines: dropped, droppedLogLinesTotal: dropped })]);
  });
});
