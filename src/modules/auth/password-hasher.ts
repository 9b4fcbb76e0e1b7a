import crypto from 'node:crypto';
import bcrypt from 'bcrypt';
import { AppError } from '../../errors.js';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against a hash; with no hash, burns the same time against a dummy one. */
  verify(password: string, hash: string | undefined): Promise<boolean>;
}

export interface HasherOptions {
  cost: number;
  /** Hashes running at once; the rest wait in line. */
  concurrency: number;
  /** Past this many waiting, answer 503 at once instead of queueing for minutes. */
  maxQueue?: number;
}

/**
 * bcrypt's async API runs on libuv's thread pool, so hashing never blocks the event loop.
 * On top of that, at most `concurrency` hashes run at once (by default one fewer than
 * the cores): a login flood then keeps a core free for everything else, and page views
 * stay fast while logins queue.
 */
export function createBcryptHasher(options: HasherOptions): PasswordHasher {
  const maxQueue = options.maxQueue ?? 1000;
  let running = 0;
  const waiting: Array<() => void> = [];

  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (running >= options.concurrency) {
      if (waiting.length >= maxQueue) throw new AppError(503, 'Too many people are logging in right now. Try again in a few seconds.', { code: 'busy', retryAfterSec: 5 });
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running += 1;
    }
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  }

  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= bcrypt.hash(crypto.randomBytes(16).toString('hex'), options.cost));
  return {
    hash: (password) => limited(() => bcrypt.hash(password, options.cost)),
    async verify(password, hash) {
      const against = hash ?? (await dummyHash());
      const ok = await limited(() => bcrypt.compare(password, against));
      return hash !== undefined && ok;
    },
  };
}
