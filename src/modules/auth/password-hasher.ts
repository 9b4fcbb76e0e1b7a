import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { AppError } from '../../errors.js';

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
 * Each worker thread lowers its own CPU priority to the minimum (nice 19; Linux lets a
 * thread do that to itself) and runs bcrypt synchronously. The event loop thread keeps
 * normal priority, so under a login flood the kernel still gives it the CPU first: page
 * views stay fast while bcrypt uses whatever is left, on every core.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  require('node:os').setPriority(tid, 19);
} catch {}
parentPort.on('message', (job) => {
  try {
    const result = job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
    parentPort.postMessage({ id: job.id, result });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: String(err && err.message || err) });
  }
});
`;

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

export function createBcryptHasher(options: HasherOptions): PasswordHasher {
  const maxQueue = options.maxQueue ?? 1000;
  const bcryptPath = createRequire(import.meta.url).resolve('bcrypt');
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const waiting: Array<(worker: Worker) => void> = [];
  let nextId = 0;

  for (let i = 0; i < options.concurrency; i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath } });
    // Idle workers must not keep the process alive.
    worker.unref();
    all.push(worker);
    idle.push(worker);
  }

  function acquire(): Promise<Worker> {
    const worker = idle.pop();
    if (worker) return Promise.resolve(worker);
    if (waiting.length >= maxQueue) {
      return Promise.reject(new AppError(503, 'Too many people are logging in right now. Try again in a few seconds.', { code: 'busy', retryAfterSec: 5 }));
    }
    return new Promise((resolve) => waiting.push(resolve));
  }

  function release(worker: Worker): void {
    const next = waiting.shift();
    if (next) next(worker);
    else idle.push(worker);
  }

  async function run<T>(job: Job): Promise<T> {
    const worker = await acquire();
    const id = nextId++;
    worker.ref();
    try {
      return await new Promise<T>((resolve, reject) => {
        const onMessage = (msg: { id: number; result?: T; error?: string }) => {
          if (msg.id !== id) return;
          worker.off('message', onMessage);
          worker.off('error', onError);
          if (msg.error !== undefined) reject(new Error(msg.error));
          else resolve(msg.result as T);
        };
        const onError = (err: Error) => {
          worker.off('message', onMessage);
          reject(err);
        };
        worker.on('message', onMessage);
        worker.once('error', onError);
        worker.postMessage({ ...job, id });
      });
    } finally {
      worker.unref();
      release(worker);
    }
  }

  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= run<string>({ op: 'hash', password: crypto.randomBytes(16).toString('hex'), cost: options.cost }));

  return {
    hash: (password) => run<string>({ op: 'hash', password, cost: options.cost }),
    async verify(password, hash) {
      const against = hash ?? (await dummyHash());
      const ok = await run<boolean>({ op: 'compare', password, hash: against });
      return hash !== undefined && ok;
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
