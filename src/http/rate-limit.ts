import net from 'node:net';
import { RateLimiterRes, RateLimiterSQLite } from 'rate-limiter-flexible';
import type { Db } from '../db/client.js';
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

function sqliteLimiter(db: Db, name: string, points: number, durationSec: number): Limiter {
  // The counters live in the app's SQLite file, so every worker process shares them.
  const limiter = new RateLimiterSQLite({
    storeClient: db.$client,
    storeType: 'better-sqlite3',
    tableName: 'rate_limits',
    tableCreated: true,
    keyPrefix: name,
    points,
    duration: durationSec,
  });
  return {
    async consume(key) {
      try {
        await limiter.consume(key);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw tooManyRequests(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
        throw err;
      }
    },
    async reward(key) {
      await limiter.reward(key);
    },
    async reset(key) {
      await limiter.delete(key);
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

export function createRateLimits(db: Db, config: Config): RateLimits {
  const r = config.rateLimits;
  const make = (name: string, points: number, durationSec: number) =>
    r.enabled ? sqliteLimiter(db, name, points, durationSec) : unlimited;
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
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(ip: string): string[] {
  const withoutZone = ip.split('%')[0] ?? ip;
  const [head = '', tail] = withoutZone.split('::');
  const parse = (part: string) => (part ? part.split(':') : []);
  const headGroups = parse(head);
  const tailGroups = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4 style) occupies two groups.
  const last = tailGroups.length ? tailGroups : headGroups;
  const lastGroup = last[last.length - 1];
  if (lastGroup && lastGroup.includes('.')) {
    const octets = lastGroup.split('.').map(Number);
    last.splice(last.length - 1, 1, (((octets[0] ?? 0) << 8) | (octets[1] ?? 0)).toString(16), (((octets[2] ?? 0) << 8) | (octets[3] ?? 0)).toString(16));
  }
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.map((g) => parseInt(g, 16).toString(16));
}
