import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import { projectRoot } from './paths.js';

const bool = z.enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no']).transform((v) => ['true', '1', 'on', 'yes'].includes(v));

const count = (fallback: number) => z.coerce.number().int().min(1).max(1_000_000).default(fallback);

/** Every setting the app reads from the environment. Nothing else reads process.env. */
const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().trim().min(1).optional(),
    DATABASE_FILE: z.string().trim().min(1).default('data/app.db'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
    BASE_URL: z
      .url({ protocol: /^https?$/ })
      .default('http://localhost:3000')
      .transform((u) => new URL(u).origin),
    SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    SESSION_MAX_AGE_DAYS: z.coerce.number().int().min(1).max(365).default(14),
    BCRYPT_COST: z.coerce.number().int().min(4).max(15).default(12),
    BCRYPT_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(1)
      .max(64)
      .default(Math.max(1, os.availableParallelism() - 1)),
    TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
    SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
    MAIL_FROM: z.string().trim().min(3).default('Referral Program <no-reply@localhost>'),
    WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
    ADMIN_EMAILS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((e) => e.trim().toLowerCase())
          .filter(Boolean),
      ),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LEADERBOARD_CACHE: z.enum(['on', 'off']).default('on'),
    RATE_LIMITS: bool.default(true),
    RATE_LOGIN_PER_EMAIL_IP: count(10),
    RATE_LOGIN_PER_IP: count(100),
    RATE_SIGNUP_PER_IP: count(30),
    RATE_APPLY_PER_USER: count(10),
    RATE_CLICK_PER_IP: count(60),
    RATE_RESET_PER_ACCOUNT: count(5),
    RATE_RESET_PER_IP: count(20),
    RATE_VERIFY_RESEND_PER_ACCOUNT: count(5),
    CREDIT_ON: z.enum(['verified', 'signup', 'conversion']).default('verified'),
    FRAUD_SCREEN: z.enum(['on', 'off']).default('on'),
    FRAUD_VELOCITY: count(5),
    RATE_DEEP_PAGE_PER_IP: count(30),
    OUTBOX_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
    RATE_API_PER_MINUTE: count(600),
    WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.SESSION_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['SESSION_SECRET'], message: 'is required when NODE_ENV=production' });
    }
  });

export type Env = z.input<typeof EnvSchema>;

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly port: number;
  readonly host: string | undefined;
  readonly databaseFile: string;
  /** PostgreSQL instead of the SQLite file, when set. */
  readonly databaseUrl: string | undefined;
  readonly baseUrl: string;
  readonly sessionSecret: string;
  readonly sessionMaxAgeMs: number;
  readonly bcryptCost: number;
  readonly bcryptConcurrency: number;
  readonly trustProxy: number;
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  readonly mailDir: string;
  readonly webConcurrency: number;
  readonly adminEmails: readonly string[];
  readonly logLevel: string;
  readonly leaderboardCache: boolean;
  /** When a referral is screened and credited: the friend confirms their email (default), signs up, or converts. */
  readonly creditOn: 'verified' | 'signup' | 'conversion';
  readonly fraudScreen: boolean;
  /** Referrals of one referrer from one network within an hour beyond which they are held. */
  readonly fraudVelocity: number;
  /** Sent emails keep their bodies this many days, then only the row (for the admin counts). */
  readonly outboxRetentionDays: number;
  /** Requests per minute per integration API key. */
  readonly apiRatePerMinute: number;
  /** Webhook targets on loopback, private or link-local addresses are refused unless this is set. */
  readonly webhookAllowPrivate: boolean;
  readonly rateLimits: {
    readonly enabled: boolean;
    readonly loginPerEmailIp: number;
    readonly loginPerIp: number;
    readonly signupPerIp: number;
    readonly applyPerUser: number;
    readonly clickPerIp: number;
    readonly resetPerAccount: number;
    readonly resetPerIp: number;
    readonly verifyResendPerAccount: number;
    readonly deepPagePerIp: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Called when a development session secret had to be generated or read from disk. */
  warn?: (message: string) => void;
}

/**
 * Parses the environment once at start-up. A bad value throws ConfigError naming every
 * problem, so the process stops with one clear message instead of failing later.
 */
export function loadConfig(source: Record<string, string | undefined> = process.env, options: LoadConfigOptions = {}): Config {
  // Empty strings in .env files mean "not set", not "set to empty".
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`));
  }
  const env = parsed.data;
  const databaseFile = env.DATABASE_FILE === ':memory:' ? ':memory:' : path.resolve(projectRoot, env.DATABASE_FILE);
  const dataDir = databaseFile === ':memory:' ? path.resolve(projectRoot, 'data') : path.dirname(databaseFile);

  const sessionSecret = env.SESSION_SECRET ?? developmentSecret(dataDir, options.warn);

  return Object.freeze({
    env: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    port: env.PORT,
    host: env.HOST,
    databaseFile,
    databaseUrl: env.DATABASE_URL,
    baseUrl: env.BASE_URL,
    sessionSecret,
    sessionMaxAgeMs: env.SESSION_MAX_AGE_DAYS * 24 * 60 * 60 * 1000,
    bcryptCost: env.BCRYPT_COST,
    bcryptConcurrency: env.BCRYPT_CONCURRENCY,
    trustProxy: env.TRUST_PROXY,
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    mailDir: path.join(dataDir, 'mail'),
    webConcurrency: env.WEB_CONCURRENCY,
    adminEmails: Object.freeze(env.ADMIN_EMAILS),
    logLevel: env.LOG_LEVEL,
    leaderboardCache: env.LEADERBOARD_CACHE === 'on',
    creditOn: env.CREDIT_ON,
    fraudScreen: env.FRAUD_SCREEN === 'on',
    fraudVelocity: env.FRAUD_VELOCITY,
    outboxRetentionDays: env.OUTBOX_RETENTION_DAYS,
    apiRatePerMinute: env.RATE_API_PER_MINUTE,
    webhookAllowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
    rateLimits: Object.freeze({
      enabled: env.RATE_LIMITS,
      loginPerEmailIp: env.RATE_LOGIN_PER_EMAIL_IP,
      loginPerIp: env.RATE_LOGIN_PER_IP,
      signupPerIp: env.RATE_SIGNUP_PER_IP,
      applyPerUser: env.RATE_APPLY_PER_USER,
      clickPerIp: env.RATE_CLICK_PER_IP,
      resetPerAccount: env.RATE_RESET_PER_ACCOUNT,
      resetPerIp: env.RATE_RESET_PER_IP,
      verifyResendPerAccount: env.RATE_VERIFY_RESEND_PER_ACCOUNT,
      deepPagePerIp: env.RATE_DEEP_PAGE_PER_IP,
    }),
  });
}

/**
 * Development needs no configuration: a random secret is generated once and kept beside
 * the database so sessions survive restarts. Production refuses to start without one.
 */
function developmentSecret(dataDir: string, warn: LoadConfigOptions['warn']): string {
  const file = path.join(dataDir, 'session-secret');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) {
      warn?.(`SESSION_SECRET is not set; using the development secret in ${file}`);
      return existing;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = crypto.randomBytes(32).toString('base64url');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  warn?.(`SESSION_SECRET is not set; generated a development secret in ${file}. Set SESSION_SECRET in production.`);
  return secret;
}
