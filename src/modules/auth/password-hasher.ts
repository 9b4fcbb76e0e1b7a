import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from '../../errors.js';
import { NO_PASSWORD } from '../users/users.constants.js';
import type { BcryptJob } from './bcrypt.worker.js';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against a hash; with no hash, burns the same time against a dummy one. */
  verify(password: string, hash: string | undefined): Promise<boolean>;
  close(): Promise<void>;
}

export interface HasherOptions {
  cost: number;
  /** Worker threads, hence hashes running at once; the rest wait in line. */
  concurrency: number;
  /** Past this many waiting, answer 503 at once instead of queueing for minutes. */
  maxQueue?: number;
}

/**
 * The worker module sits next to this one: bcrypt.worker.ts when running from sources
 * (tsx, vitest), bcrypt.worker.js in dist/. A worker thread starts without the parent's
 * TypeScript loader unless told, so from sources it gets tsx via --import (unless the
 * process was itself started with tsx, whose execArgv the workers inherit).
 */
function workerSetup(): { filename: string; execArgv?: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const filename = fileURLToPath(new URL(`./bcrypt.worker${ext}`, import.meta.url));
  if (ext === '.js' || process.execArgv.some((arg) => arg.includes('tsx'))) return { filename };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { filename, execArgv: [...process.execArgv, '--import', tsx] };
}

/** piscina rejects with these plain errors when its queue is full (or there is none). */
const QUEUE_FULL = new Set(['Task queue is at limit', 'No task queue available and all Workers are busy']);

/**
 * bcrypt in a pool of `concurrency` worker threads, each at the lowest CPU priority (see
 * bcrypt.worker.ts). Idle workers are unref'd by piscina, so the pool never keeps the
 * process alive on its own.
 */
export function createBcryptHasher(options: HasherOptions): PasswordHasher {
  const pool = new Piscina<BcryptJob, string | boolean>({
    ...workerSetup(),
    minThreads: options.concurrency,
    maxThreads: options.concurrency,
    maxQueue: options.maxQueue ?? 1000,
  });

  let closed = false;

  async function run<T extends string | boolean>(job: BcryptJob): Promise<T> {
    // After destroy() piscina would start fresh threads for a new job: refuse instead.
    if (closed) throw new Error('Password hasher is closed');
    try {
      return (await pool.run(job)) as T;
    } catch (err) {
      if (err instanceof Error && QUEUE_FULL.has(err.message)) {
        throw new AppError(503, 'Too many people are logging in right now. Try again in a few seconds.', { code: 'busy', retryAfterSec: 5 });
      }
      throw err;
    }
  }

  let dummy: Promise<string> | undefined;
  const dummyHash = () =>
    (dummy ??= run<string>({ op: 'hash', password: crypto.randomBytes(16).toString('hex'), cost: options.cost }).catch((err: unknown) => {
      // Try again next time (e.g. after a 503) instead of caching the failure.
      dummy = undefined;
      throw err;
    }));

  return {
    hash: (password) => run<string>({ op: 'hash', password, cost: options.cost }),
    async verify(password, hash) {
      // An unknown account and one without a password cost the same bcrypt time as a real one.
      const usable = hash !== undefined && hash !== NO_PASSWORD;
      const ok = await run<boolean>({ op: 'compare', password, hash: usable ? hash : await dummyHash() });
      return usable && ok;
    },
    async close() {
      closed = true;
      await pool.destroy();
    },
  };
}
