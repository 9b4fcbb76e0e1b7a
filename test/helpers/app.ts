import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterAll, beforeAll } from 'vitest';
import { createApp } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig, type Env } from '../../src/config.js';
import type { Db } from '../../src/db/client.js';
import { openPostgres, openSqlite, type AppDatabase } from '../../src/db/database.js';
import { createTestPgDatabase, pgServerUrl } from './pg.js';
import { migrateSqlite } from '../../src/db/migrate.js';
import type { MailTransport } from '../../src/modules/mail/transport.js';
import type { PasswordHasher } from '../../src/modules/auth/password-hasher.js';

export interface TestClock extends Clock {
  advance(ms: number): void;
  set(date: Date): void;
}

export function createTestClock(start = new Date('2026-01-15T12:00:00Z')): TestClock {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    set: (date) => {
      now = date.getTime();
    },
  };
}

/** Generous limits so only the rate-limit tests ever meet a 429. */
export const relaxedLimits: Partial<Env> = {
  RATE_LOGIN_PER_EMAIL_IP: '1000',
  RATE_LOGIN_PER_IP: '10000',
  RATE_SIGNUP_PER_IP: '10000',
  RATE_APPLY_PER_USER: '1000',
  RATE_CLICK_PER_IP: '10000',
  RATE_RESET_PER_ACCOUNT: '1000',
  RATE_RESET_PER_IP: '10000',
  RATE_VERIFY_RESEND_PER_ACCOUNT: '1000',
  RATE_DEEP_PAGE_PER_IP: '10000',
};

/**
 * Most suites test attribution, ranking and rewards, not earning: there a referral is
 * credited at sign-up without the fraud screen (every test client shares 127.0.0.1 and
 * would be "one network"). test/earned-credit.test.ts runs the real defaults.
 */
export const creditAtSignup: Partial<Env> = { CREDIT_ON: 'signup', FRAUD_SCREEN: 'off' };

export function tempDir(prefix = 'referral-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A fresh migrated database, as every test file gets: a SQLite file, or under
 * `npm run test:pg` a PostgreSQL database copied from the migrated template.
 */
export function freshDatabase(dir = tempDir()): { database: AppDatabase; db: Db; file: string; url: string | undefined; drop: () => void } {
  const file = path.join(dir, 'app.db');
  if (pgServerUrl) {
    const pg = createTestPgDatabase();
    const database = openPostgres(pg.url, { max: 4 });
    return { database, db: database.db, file, url: pg.url, drop: pg.drop };
  }
  const database = openSqlite(file);
  migrateSqlite(database);
  return { database, db: database.db, file, url: undefined, drop: () => {} };
}

/**
 * A fresh database for the tests of one describe block: made before them, closed and
 * dropped after. The getter is read inside the tests (the database exists only then).
 */
export function freshDatabaseForSuite(): () => ReturnType<typeof freshDatabase> {
  let fresh: ReturnType<typeof freshDatabase> | undefined;
  beforeAll(() => {
    fresh = freshDatabase();
  });
  afterAll(async () => {
    await fresh?.database.close();
    fresh?.drop();
  });
  return () => fresh!;
}

export interface TestApp {
  app: ReturnType<typeof createApp>['app'];
  /** The unit-of-work door, as the app uses it. */
  database: AppDatabase;
  /** Reads (and test set-up writes) on their own connection: committed data only. */
  db: Db;
  dir: string;
  clock: TestClock;
  config: ReturnType<typeof loadConfig>;
  sessionStore: ReturnType<typeof createApp>['sessionStore'];
  deliverer: ReturnType<typeof createApp>['deliverer'];
  webhookDeliverer: ReturnType<typeof createApp>['webhookDeliverer'];
  request: () => supertest.Agent;
  close(): Promise<void>;
}

export function makeTestApp(env: Partial<Env> = {}, options: { clock?: TestClock; mailer?: MailTransport; hasher?: PasswordHasher } = {}): TestApp {
  const dir = tempDir();
  const { database, file, url, drop } = freshDatabase(dir);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_FILE: file,
    DATABASE_URL: url,
    SESSION_SECRET: 'test-secret-test-secret-test-secret-0123',
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    ...relaxedLimits,
    ...creditAtSignup,
    ...env,
  } as Record<string, string>);
  const app = appOn(database, config, options.clock ?? createTestClock(), dir, options);
  return {
    ...app,
    async close() {
      await app.close();
      drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An app over an open database; closing it closes the app and that connection. Also
 * how a test stands up a second "worker" on the same file (see siblingApp).
 */
export function appOn(
  database: AppDatabase,
  config: TestApp['config'],
  clock: TestClock,
  dir: string,
  deps: { mailer?: MailTransport; hasher?: PasswordHasher } = {},
): TestApp {
  const built = createApp({ config, database, logger: pino({ level: 'silent' }), clock, mailer: deps.mailer, hasher: deps.hasher });
  return {
    app: built.app,
    database,
    db: database.db,
    dir,
    clock,
    config,
    sessionStore: built.sessionStore,
    deliverer: built.deliverer,
    webhookDeliverer: built.webhookDeliverer,
    request: () => supertest.agent(built.app),
    async close() {
      await built.close();
      await database.close();
    },
  };
}
