import bcrypt from 'bcrypt';
import { eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { users, type User } from '../../src/db/schema.js';
import { exec, rows } from '../../src/db/sql.js';
import { generateReferralCode } from '../../src/modules/referral/referral-code.js';
import { STRONG_PASSWORD } from './forms.js';
import { pgServerUrl } from './pg.js';

/*
 * Reading and writing rows from tests on either engine. Prefer a typed Drizzle query;
 * these take raw SQL for joins and aggregates, which must then be portable: no SQLite
 * functions, booleans only through typed queries (SQLite returns 0/1, PostgreSQL
 * true/false), strings in single quotes. Integer and bigint columns come back as numbers
 * on both engines, so epoch-ms times in raw rows are numbers too.
 */

/**
 * Whether this run is on PostgreSQL (`npm run test:pg`, or DATABASE_URL set), for the few
 * tests of one engine's own machinery that skip themselves on the other.
 */
export const onPostgres = Boolean(process.env.DATABASE_URL || pgServerUrl);

/**
 * Raw SQL text with `?` placeholders as a Drizzle statement, each `?` bound to the next
 * parameter, so every engine gets its own placeholders ($1, $2… on PostgreSQL). A `?`
 * inside a string literal would be taken for a placeholder: pass such strings as params.
 */
function statement(text: string, params: unknown[]): SQL {
  const parts = text.split('?');
  if (parts.length - 1 !== params.length) throw new Error(`${parts.length - 1} placeholders but ${params.length} parameters in: ${text}`);
  return sql.join(parts.flatMap((part, i) => (i === 0 ? [sql.raw(part)] : [sql`${params[i - 1]}`, sql.raw(part)])));
}

/** Every row a raw query returns, with its columns named as in the SQL. */
export function query<T>(db: Db, text: string, ...params: unknown[]): Promise<T[]> {
  return rows<T>(db, statement(text, params));
}

/** The first row a raw query returns, or undefined. */
export async function one<T>(db: Db, text: string, ...params: unknown[]): Promise<T | undefined> {
  return (await query<T>(db, text, ...params))[0];
}

/** Runs a raw statement; resolves to how many rows it changed. */
export function run(db: Db, text: string, ...params: unknown[]): Promise<number> {
  return exec(db, statement(text, params));
}

/** The first column of the first row as a number: `countOf(db, 'select count(*) from users')`. */
export async function countOf(db: Db, text: string, ...params: unknown[]): Promise<number> {
  const row = await one<Record<string, unknown>>(db, text, ...params);
  if (!row) throw new Error(`no row from: ${text}`);
  return Number(Object.values(row)[0]);
}

/**
 * Opens the database a server process (or a CLI run) uses, on its engine: the
 * PostgreSQL database when it has a URL, else its SQLite file. Close it with
 * `await database.close()`.
 */
export function openDatabaseOf(target: { dbFile: string; databaseUrl?: string | undefined }): Database {
  return openDatabase({ databaseUrl: target.databaseUrl, databaseFile: target.dbFile });
}

export async function userByEmail(db: Db, email: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.emailNormalized, email.toLowerCase())).limit(1);
  return user;
}

// One cost-4 hash for every factory user: the password is STRONG_PASSWORD.
const HASH = bcrypt.hashSync(STRONG_PASSWORD, 4);
let n = 0;

export interface UserFields {
  name?: string;
  email?: string;
  referralsCount?: number;
  lastReferralAt?: Date | null;
  status?: User['status'];
  role?: User['role'];
  createdAt?: Date;
  referredById?: number | null;
}

/**
 * Inserts a user row directly, for tests that need many ranked users fast. Counts set
 * here have no referral rows behind them: use the HTTP flows when that matters.
 */
export async function insertUser(db: Db, fields: UserFields = {}): Promise<User> {
  n += 1;
  const email = fields.email ?? `factory${n}.${process.pid}@example.com`;
  const [user] = await db
    .insert(users)
    .values({
      name: fields.name ?? `Factory ${n}`,
      email,
      emailNormalized: email.toLowerCase(),
      passwordHash: HASH,
      referralCode: generateReferralCode(),
      referralsCount: fields.referralsCount ?? 0,
      lastReferralAt: fields.lastReferralAt ?? (fields.referralsCount ? new Date(Date.UTC(2026, 0, 1, 0, 0, n)) : null),
      status: fields.status ?? 'active',
      role: fields.role ?? 'user',
      createdAt: fields.createdAt ?? new Date('2026-01-15T12:00:00Z'),
      referredById: fields.referredById ?? null,
    })
    .returning();
  return user!;
}
