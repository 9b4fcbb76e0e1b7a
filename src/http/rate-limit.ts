import { lt } from 'drizzle-orm';
import { addressPrefix } from './client-address.js';
import { RateLimiterPostgres, RateLimiterRes, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { deleteInBatches, type AppDatabase } from '../db/database.js';
import { rateLimits } from '../db/schema.js';
import type { Config } from '../config.js';
import { tooManyRequests } from '../errors.js';

/** A named budget of `points` actions per `durationSec`, keyed by whatever the caller says. */
export interface Limiter {
  /** Spends one point; throws a 429 AppError (with Retry-After seconds) when none is left. */
  consume(key: string): Promise<void>;
  /** Gives a point back, for attempts that turned out not to count (a successful login). */
  reward(key: string): Promise<void>;
  /** Forgets the key entirely. */
  reset(key: string): Promise<void>;
}

/** Where a key stands in its window, for the `RateLimit` headers. */
export interface Quota {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSec: number;
  windowSec: number;
}

/** A budget that reports where it stands instead of throwing: the integration API's per-key limit. */
export interface MeteredLimiter {
  take(key: string): Promise<Quota>;
}

const unlimited: Limiter = {
  consume: async () => {},
  reward: async () => {},
  reset: async () => {},
};

/**
 * The counters live in the app's database, so every worker process and app server shares
 * them: SQLite's store runs synchronous statements on the writer connection, so each
 * call waits its turn like any other unit of work; PostgreSQL's uses the pool.
 * Neither store's own clean-up timer is used (`clearExpiredByTimeout`): SQLite's would
 * run its DELETE on the writer connection outside the unit-of-work mutex (inside whatever
 * transaction is open), and PostgreSQL's is one timer per limiter that outlives the app.
 * Expired rows are deleted by `pruneRateLimits` instead, on the session store's schedule.
 */
function storeOf(database: AppDatabase, name: string, points: number, durationSec: number) {
  const common = { tableName: 'rate_limits', tableCreated: true, keyPrefix: name, points, duration: durationSec };
  const limiter: RateLimiterAbstract =
    'writer' in database
      ? new RateLimiterSQLite({ ...common, storeClient: database.writer, storeType: 'better-sqlite3' })
      : new RateLimiterPostgres({ ...common, storeClient: database.pool, storeType: 'pool', clearExpiredByTimeout: false });
  const serialised = <T>(work: () => Promise<T>): Promise<T> => ('writer' in database ? database.transaction(work) : work());
  return { limiter, serialised };
}

function storeLimiter(database: AppDatabase, name: string, points: number, durationSec: number): Limiter {
  const { limiter, serialised } = storeOf(database, name, points, durationSec);
  return {
    async consume(key) {
      // A refusal is an answer, not a failure: the spent point commits with it.
      const refused = await serialised(async () => {
        try {
          await limiter.consume(key);
          return null;
        } catch (err) {
          if (err instanceof RateLimiterRes) return err;
          throw err;
        }
      });
      if (refused) throw tooManyRequests(Math.max(1, Math.ceil(refused.msBeforeNext / 1000)));
    },
    async reward(key) {
      await serialised(() => limiter.reward(key));
    },
    async reset(key) {
      await serialised(() => limiter.delete(key));
    },
  };
}

function meteredLimiter(database: AppDatabase, name: string, points: number, durationSec: number): MeteredLimiter {
  const { limiter, serialised } = storeOf(database, name, points, durationSec);
  return {
    async take(key) {
      const res = await serialised(async () => {
        try {
          return { allowed: true, res: await limiter.consume(key) };
        } catch (err) {
          if (err instanceof RateLimiterRes) return { allowed: false, res: err };
          throw err;
        }
      });
      const resetSec = Math.max(1, Math.ceil(res.res.msBeforeNext / 1000));
      return { allowed: res.allowed, limit: points, remaining: Math.max(0, res.res.remainingPoints), resetSec, windowSec: durationSec };
    },
  };
}

export interface RateLimits {
  loginEmailIp: Limiter;
  loginIp: Limiter;
  signupIp: Limiter;
  applyUser: Limiter;
  clickIp: Limiter;
  resetAccount: Limiter;
  resetIp: Limiter;
  verifyResendAccount: Limiter;
  deepPageIp: Limiter;
  /** Requests per minute per integration API key. */
  apiKey: MeteredLimiter;
  /** Deletes expired counters (every limiter's); returns how many. See pruneRateLimits. */
  prune(now?: number): Promise<number>;
}

const PRUNE_BATCH = 5000;

/**
 * Deletes the counters whose window has ended (`expire` is epoch milliseconds of the real
 * clock, as the stores write it): an expired row counts as absent for the stores anyway.
 * Batches, each a unit of work of its own, keep the SQLite writer free for requests.
 */
export async function pruneRateLimits(database: AppDatabase, now = Date.now()): Promise<number> {
  return deleteInBatches(database, rateLimits, rateLimits.key, lt(rateLimits.expire, now), PRUNE_BATCH);
}

export function createRateLimits(database: AppDatabase, config: Config): RateLimits {
  const r = config.rateLimits;
  const make = (name: string, points: number, durationSec: number) => (r.enabled ? storeLimiter(database, name, points, durationSec) : unlimited);
  return {
    loginEmailIp: make('login-email-ip', r.loginPerEmailIp, 15 * 60),
    loginIp: make('login-ip', r.loginPerIp, 60 * 60),
    signupIp: make('signup-ip', r.signupPerIp, 60 * 60),
    applyUser: make('apply-user', r.applyPerUser, 60 * 60),
    clickIp: make('click-ip', r.clickPerIp, 60),
    resetAccount: make('reset-account', r.resetPerAccount, 60 * 60),
    resetIp: make('reset-ip', r.resetPerIp, 60 * 60),
    verifyResendAccount: make('verify-resend-account', r.verifyResendPerAccount, 60 * 60),
    deepPageIp: make('deep-page-ip', r.deepPagePerIp, 60),
    apiKey: r.enabled
      ? meteredLimiter(database, 'api-key', config.apiRatePerMinute, 60)
      : { take: () => Promise.resolve({ allowed: true, limit: config.apiRatePerMinute, remaining: config.apiRatePerMinute, resetSec: 60, windowSec: 60 }) },
    prune: (now) => pruneRateLimits(database, now),
  };
}

/**
 * The key a client is limited by. IPv4 addresses stand for themselves; an IPv6 client
 * usually owns a whole /64, so limiting per address would let it rotate freely.
 */
export function clientKey(ip: string | undefined): string {
  return addressPrefix(ip, 32) ?? (ip || 'unknown');
}
