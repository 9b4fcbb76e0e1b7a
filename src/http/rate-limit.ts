import { addressPrefix } from './client-address.js';
import { RateLimiterPostgres, RateLimiterRes, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AppDatabase } from '../db/database.js';
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

const unlimited: Limiter = {
  consume: async () => {},
  reward: async () => {},
  reset: async () => {},
};

/**
 * The counters live in the app's database, so every worker process and app server shares
 * them: SQLite's store runs synchronous statements on the writer connection, so each
 * call waits its turn like any other unit of work; PostgreSQL's uses the pool.
 */
function storeLimiter(database: AppDatabase, name: string, points: number, durationSec: number): Limiter {
  const common = { tableName: 'rate_limits', tableCreated: true, keyPrefix: name, points, duration: durationSec };
  const limiter: RateLimiterAbstract =
    'writer' in database
      ? new RateLimiterSQLite({ ...common, storeClient: database.writer, storeType: 'better-sqlite3' })
      : new RateLimiterPostgres({ ...common, storeClient: database.pool, storeType: 'pool', clearExpiredByTimeout: true });
  const serialised = <T>(work: () => Promise<T>): Promise<T> => ('writer' in database ? database.transaction(work) : work());
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
  };
}

/**
 * The key a client is limited by. IPv4 addresses stand for themselves; an IPv6 client
 * usually owns a whole /64, so limiting per address would let it rotate freely.
 */
export function clientKey(ip: string | undefined): string {
  return addressPrefix(ip, 32) ?? (ip || 'unknown');
}
