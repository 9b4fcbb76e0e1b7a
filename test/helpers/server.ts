import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { projectRoot } from '../../src/paths.js';
import { creditAtSignup, relaxedLimits, tempDir } from './app.js';
import { createTestPgDatabase, pgServerUrl } from './pg.js';

export interface RunningServer {
  url: string;
  dbFile: string;
  /** The PostgreSQL database under `npm run test:pg` (a second server may share it). */
  databaseUrl: string | undefined;
  dir: string;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

let built = false;
/** Compiles src/ to dist/ as `npm start` does (once per test process). */
function buildDist(): void {
  if (built) return;
  execFileSync(process.execPath, [path.join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: projectRoot,
    stdio: 'inherit',
  });
  built = true;
}

/**
 * Starts the real entry point in a child process over a file database, and resolves once
 * it logs the port it listens on: src/server.ts through tsx, or with `{ dist: true }`
 * the compiled dist/server.js exactly as `npm start` runs it (built first). Under
 * `npm run test:pg` it gets a fresh PostgreSQL database instead (dropped when it stops),
 * unless env.DATABASE_URL names one to share.
 */
export async function startServer(
  env: Record<string, string> = {},
  dir = tempDir('referral-server-'),
  options: { dist?: boolean } = {},
): Promise<RunningServer> {
  const dbFile = path.join(dir, 'app.db');
  const ownPg = pgServerUrl && !env.DATABASE_URL ? createTestPgDatabase() : undefined;
  const databaseUrl = env.DATABASE_URL ?? ownPg?.url;
  if (options.dist) buildDist();
  const entry = options.dist ? [path.join(projectRoot, 'dist/server.js')] : ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')];
  const child = spawn(process.execPath, entry, {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_FILE: dbFile,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      SESSION_SECRET: 'server-test-secret-server-test-secret-01',
      BCRYPT_COST: '4',
      LOG_LEVEL: 'info',
      ...(relaxedLimits as Record<string, string>),
      ...(creditAtSignup as Record<string, string>),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr.join('')}`)), 20_000);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { port?: number; msg?: string };
        if (entry.port && /listening/.test(entry.msg ?? '')) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a log line
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr.join('')}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    dbFile,
    databaseUrl,
    dir,
    process: child,
    stop: async (signal = 'SIGTERM') => {
      const code = await new Promise<number | null>((resolve) => {
        // Already gone (exited, or killed by a signal: then exitCode stays null).
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (c) => resolve(c));
        child.kill(signal);
      });
      ownPg?.drop();
      return code;
    },
  };
}

/** A minimal browser-like client over fetch: keeps cookies, reads CSRF tokens. */
export class HttpClient {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  async request(method: string, pathName: string, init: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(this.base + pathName, { method, headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  async csrf(pathName: string): Promise<string> {
    const page = await this.request('GET', pathName);
    const match = /name="_csrf" value="([^"]+)"/.exec(page.text);
    if (!match?.[1]) throw new Error(`no CSRF token on ${pathName} (status ${page.status})`);
    return match[1];
  }
}
