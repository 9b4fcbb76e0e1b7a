import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import bcrypt from 'bcrypt';
import cliProgress from 'cli-progress';
import { DAY_MS } from '../clock.js';
import { loadConfig } from '../config.js';
import { sql } from 'drizzle-orm';
import type { Database as SqliteConnection } from 'better-sqlite3';
import type { Pool } from 'pg';
import { openDatabase } from '../db/database.js';
import { rows } from '../db/sql.js';
import { runMigrations } from '../db/migrate.js';
import { CODE_ALPHABET, CODE_LENGTH } from '../modules/referral/referral-code.js';

const DEFAULT_PASSWORD = 'seed-password-123';

export interface SeedOptions {
  users: number;
  password: string;
  /** Deterministic output for a given seed value (tests, benchmarks). */
  seed?: number;
  progress?: boolean;
}

/** A small deterministic PRNG (mulberry32), so a seeded database is reproducible. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Who referred whom. Each new user was referred with probability 0.6; the referrer is
 * picked by preferential attachment (with probability 0.6, someone chosen in proportion
 * to the referrals they already have; otherwise anyone who joined earlier). That gives
 * the power law of real referral programs: most people refer no one, a few refer
 * hundreds. User 1 is the launch account (a founder, a partner with an audience): 1% of
 * the referred sign-ups come through it, about 6,000 at a million users, so a benchmark
 * can open a dashboard with thousands of referrals.
 */
export function referralGraph(n: number, random: () => number): { referredBy: Int32Array; counts: Int32Array } {
  const referredBy = new Int32Array(n + 1);
  const counts = new Int32Array(n + 1);
  const pool = new Int32Array(n); // one entry per referral made: the referrer's id
  let poolSize = 0;
  for (let i = 2; i <= n; i++) {
    if (random() >= 0.6) continue;
    const pick = random();
    const r = pick < 0.01 ? 1 : poolSize > 0 && pick < 0.6 ? pool[Math.floor(random() * poolSize)]! : 1 + Math.floor(random() * (i - 1));
    referredBy[i] = r;
    counts[r]! += 1;
    // The launch account's own share stays out of the attachment pool, so it does not snowball.
    if (pick >= 0.01) pool[poolSize++] = r;
  }
  return { referredBy, counts };
}

/** Unique 8-symbol codes, drawn in bulk; a repeat (rare, but real at a million) is drawn again. */
function uniqueCodes(n: number): string[] {
  const seen = new Set<string>();
  const codes: string[] = [];
  while (codes.length < n) {
    const bytes = crypto.randomBytes((n - codes.length) * CODE_LENGTH);
    for (let o = 0; o + CODE_LENGTH <= bytes.length; o += CODE_LENGTH) {
      let code = '';
      for (let j = 0; j < CODE_LENGTH; j++) code += CODE_ALPHABET[bytes[o + j]! & 31];
      if (seen.has(code)) continue;
      seen.add(code);
      codes.push(code);
    }
  }
  return codes;
}

/** Everything the seed writes, computed once, the same for both engines. */
interface SeedPlan {
  n: number;
  hash: string;
  codes: string[];
  counts: Int32Array | number[];
  referredBy: Int32Array | number[];
  lastAt: Float64Array;
  createdAt: (i: number) => number;
  referrals: number;
}

async function plan(options: SeedOptions, bcryptCost: number): Promise<SeedPlan> {
  const n = options.users;
  const random = prng(options.seed ?? 20261126);
  const hash = await bcrypt.hash(options.password, bcryptCost);
  const { referredBy, counts } = referralGraph(n, random);
  const codes = uniqueCodes(n);
  const end = Date.now();
  const start = end - 60 * DAY_MS;
  const createdAt = (i: number) => start + Math.floor(((i - 1) * 60 * DAY_MS) / n);
  const lastAt = new Float64Array(n + 1);
  let referrals = 0;
  for (let i = 2; i <= n; i++) {
    const r = referredBy[i]!;
    if (r) {
      lastAt[r] = createdAt(i);
      referrals += 1;
    }
  }
  return { n, hash, codes, counts, referredBy, lastAt, createdAt, referrals };
}

function progressBar(enabled: boolean | undefined, total: number) {
  const bar = enabled
    ? new cliProgress.SingleBar(
        { format: 'seeding {bar} {percentage}% | {value}/{total} rows | {duration}s', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0);
  return bar;
}

/**
 * Fills an empty database with `users` accounts named "Seed User i" (user<i>@seed.test),
 * all sharing one bcrypt hash of the password, plus real referral rows whose counts
 * agree with users.referrals_count, and the rewards those counts earn. Seed users are
 * confirmed and their referrals credited, as if every friend had opened their link.
 * `target` is a SQLite file, or a PostgreSQL database when databaseUrl is set.
 */
export async function seedDatabase(
  target: string | { databaseUrl?: string; databaseFile: string },
  options: SeedOptions,
  bcryptCost: number,
): Promise<{ referrals: number; top: number; ms: number }> {
  const started = Date.now();
  const where = typeof target === 'string' ? { databaseFile: target } : target;
  const database = openDatabase(where);
  try {
    await runMigrations(database);
    const existing = (await rows<{ n: number }>(database.db, sql`select count(*) as n from users`))[0]!.n;
    if (Number(existing) > 0) throw new Error(`the database already has ${existing} users; seed an empty one (pass --force).`);
    const seed = await plan(options, bcryptCost);
    const bar = progressBar(options.progress, seed.n + seed.referrals);
    if ('writer' in database) writeSqlite(database.writer, seed, bar);
    else await writePostgres(database.pool, seed, bar);
    bar?.stop();
    let top = 0;
    for (let i = 1; i <= seed.n; i++) top = Math.max(top, seed.counts[i]!);
    return { referrals: seed.referrals, top, ms: Date.now() - started };
  } finally {
    await database.close();
  }
}

type Bar = ReturnType<typeof progressBar>;
const BATCH = 50_000;

function writeSqlite(sqlite: SqliteConnection, seed: SeedPlan, bar: Bar): void {
  const { n, hash, codes, counts, referredBy, lastAt, createdAt } = seed;
  sqlite.pragma('synchronous = OFF');
  sqlite.pragma('cache_size = -262144');
  sqlite.pragma('temp_store = MEMORY');
  const insertUser = sqlite.prepare(
    `insert into users (id, name, email, email_normalized, password_hash, referral_code, referrals_count, referred_by_id,
       role, status, last_referral_at, notify_referrals, email_verified_at, created_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, 'user', 'active', ?, 1, ?, ?)`,
  );
  const insertReferral = sqlite.prepare(
    `insert into referrals (referrer_id, referred_user_id, referred_email, source, status, created_at, screened_at, credited_at)
     values (?, ?, ?, 'signup', 'credited', ?, ?, ?)`,
  );
  const userBatch = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      const email = `user${i}@seed.test`;
      insertUser.run(
        i,
        `Seed User ${i}`,
        email,
        email,
        hash,
        codes[i - 1],
        counts[i],
        referredBy[i] || null,
        counts[i] ? lastAt[i] : null,
        createdAt(i),
        createdAt(i),
      );
    }
  });
  for (let from = 1; from <= n; from += BATCH) {
    const to = Math.min(n, from + BATCH - 1);
    userBatch(from, to);
    bar?.increment(to - from + 1);
  }
  const referralBatch = sqlite.transaction((from: number, to: number) => {
    let done = 0;
    for (let i = from; i <= to; i++) {
      const r = referredBy[i]!;
      if (!r) continue;
      insertReferral.run(r, i, `user${i}@seed.test`, createdAt(i), createdAt(i), createdAt(i));
      done += 1;
    }
    return done;
  });
  for (let from = 2; from <= n; from += BATCH) {
    const to = Math.min(n, from + BATCH - 1);
    const inserted = referralBatch(from, to); // outside `bar?.`: optional chaining would skip the call
    bar?.increment(inserted);
  }
  sqlite.exec(`
    insert into user_rewards (user_id, tier_id, status, awarded_at)
      select u.id, t.id, 'awarded', u.last_referral_at from users u
      join reward_tiers t on t.active = 1 and t.threshold <= u.referrals_count
      where u.referrals_count > 0;
    update app_state set value = value + 1 where key = 'leaderboard_version';
  `);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.exec('analyze');
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
}

/** The per-row period_score_counts triggers of PostgreSQL migration 0008. */
const PERIOD_COUNT_TRIGGERS = ['period_scores_counts_insert', 'period_scores_counts_update'];

/**
 * PostgreSQL: each batch is one INSERT … SELECT FROM unnest(arrays), 50,000 rows per
 * statement. The per-row score_counts triggers are set aside for the load (one pass
 * rebuilds the table afterwards), which is what makes a million users take seconds.
 */
async function writePostgres(pool: Pool, seed: SeedPlan, bar: Bar): Promise<void> {
  const { n, hash, codes, counts, referredBy, lastAt, createdAt } = seed;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('alter table users disable trigger user');
    // The monthly counts are rebuilt in one pass below, like score_counts: per-row upserts
    // of a few shared rows would bloat them on PostgreSQL. (The trigger that copies the
    // referrer's name into period_scores stays on: it writes only the row being inserted.)
    for (const trigger of PERIOD_COUNT_TRIGGERS) await client.query(`alter table period_scores disable trigger ${trigger}`);
    // channel_days too: every referral would rewrite one of a handful of rows.
    await client.query('alter table referrals disable trigger referrals_channel_days_insert');
    for (let from = 1; from <= n; from += BATCH) {
      const to = Math.min(n, from + BATCH - 1);
      const ids: number[] = [];
      const codesOf: string[] = [];
      const countsOf: number[] = [];
      const referrers: (number | null)[] = [];
      const last: (number | null)[] = [];
      const created: number[] = [];
      for (let i = from; i <= to; i++) {
        ids.push(i);
        codesOf.push(codes[i - 1]!);
        countsOf.push(counts[i]!);
        referrers.push(referredBy[i] || null);
        last.push(counts[i] ? lastAt[i]! : null);
        created.push(createdAt(i));
      }
      await client.query(
        `insert into users (id, name, email, email_normalized, password_hash, referral_code, referrals_count, referred_by_id,
           role, status, last_referral_at, notify_referrals, email_verified_at, created_at)
         select id, 'Seed User ' || id, 'user' || id || '@seed.test', 'user' || id || '@seed.test', $1, code, cnt, ref,
           'user', 'active', last, true, created, created
         from unnest($2::int[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::bigint[]) as t(id, code, cnt, ref, last, created)`,
        [hash, ids, codesOf, countsOf, referrers, last, created],
      );
      bar?.increment(to - from + 1);
    }
    for (let from = 2; from <= n; from += BATCH) {
      const to = Math.min(n, from + BATCH - 1);
      const referred: number[] = [];
      const referrers: number[] = [];
      const created: number[] = [];
      for (let i = from; i <= to; i++) {
        const r = referredBy[i]!;
        if (!r) continue;
        referred.push(i);
        referrers.push(r);
        created.push(createdAt(i));
      }
      await client.query(
        `insert into referrals (referrer_id, referred_user_id, referred_email, source, status, created_at, screened_at, credited_at)
         select ref, id, 'user' || id || '@seed.test', 'signup', 'credited', created, created, created
         from unnest($1::int[], $2::int[], $3::bigint[]) as t(ref, id, created)`,
        [referrers, referred, created],
      );
      bar?.increment(referred.length);
    }
    await client.query('alter table users enable trigger user');
    for (const trigger of PERIOD_COUNT_TRIGGERS) await client.query(`alter table period_scores enable trigger ${trigger}`);
    await client.query('alter table referrals enable trigger referrals_channel_days_insert');
    await client.query(`
      insert into channel_days (day, channel, signups, confirmed, credited)
        select r.created_at / 86400000, r.channel, count(*), count(u.email_verified_at), count(*) filter (where r.status = 'credited')
        from referrals r join users u on u.id = r.referred_user_id group by 1, 2
        on conflict (day, channel) do update set
          signups = channel_days.signups + excluded.signups,
          confirmed = channel_days.confirmed + excluded.confirmed,
          credited = channel_days.credited + excluded.credited`);
    await client.query(`
      insert into period_score_counts (period, score, users)
        select s.period, s.referrals, count(*) from period_scores s join users u on u.id = s.user_id
        where u.status = 'active' and s.referrals > 0 group by 1, 2`);
    // What the users triggers would have written row by row: every code, for the alias table.
    await client.query('insert into referral_codes (code, user_id, created_at) select referral_code, id, created_at from users');
    await client.query(`
      insert into score_counts (score, users)
        select referrals_count, count(*) from users where status = 'active' and referrals_count > 0 group by referrals_count
        on conflict (score) do update set users = excluded.users`);
    await client.query(`
      insert into user_rewards (user_id, tier_id, status, awarded_at)
        select u.id, t.id, 'awarded', u.last_referral_at from users u
        join reward_tiers t on t.active and t.threshold <= u.referrals_count
        where u.referrals_count > 0`);
    await client.query(`update app_state set value = value + 1 where key = 'leaderboard_version'`);
    // Identity columns do not move when ids are given explicitly.
    await client.query(`select setval(pg_get_serial_sequence('users', 'id'), (select max(id) from users))`);
    await client.query(`select setval(pg_get_serial_sequence('referrals', 'id'), (select max(id) from referrals))`);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
  // Every credit rewrote its referral_days row: clear the dead versions as autovacuum would.
  await pool.query('vacuum analyze');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { users: { type: 'string' }, password: { type: 'string' }, force: { type: 'boolean', default: false }, seed: { type: 'string' } },
    strict: true,
  });
  const users = Number(values.users);
  if (!Number.isInteger(users) || users < 1 || users > 5_000_000) {
    console.error('Usage: npm run db:seed -- --users N [--password P] [--force]   (N from 1 to 5,000,000)');
    return 2;
  }
  const password = values.password ?? DEFAULT_PASSWORD;
  const config = loadConfig(process.env);
  if (values.force) await emptyDatabase(config);
  const result = await seedDatabase(
    config,
    { users, password, progress: process.stdout.isTTY, seed: values.seed ? Number(values.seed) : undefined },
    config.bcryptCost,
  );
  console.log(
    `Seeded ${users.toLocaleString('en-US')} users and ${result.referrals.toLocaleString('en-US')} referrals into ${config.databaseUrl ? 'the PostgreSQL database' : config.databaseFile} ` +
      `in ${(result.ms / 1000).toFixed(1)} s (top referrer: ${result.top}).`,
  );
  console.log(`Every seed user logs in with the password: ${password}${values.password ? '' : ' (the default; pass --password to choose)'}`);
  return 0;
}

/** --force: a SQLite file is deleted; a PostgreSQL database loses every table (then migrates afresh). */
async function emptyDatabase(config: { databaseUrl?: string; databaseFile: string }): Promise<void> {
  if (!config.databaseUrl) {
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${config.databaseFile}${suffix}`, { force: true });
    return;
  }
  const database = openDatabase(config);
  try {
    if ('pool' in database) await database.pool.query('drop schema public cascade; create schema public; drop schema if exists drizzle cascade;');
  } finally {
    await database.close();
  }
}

// Run only as a script, not when a test imports seedDatabase.
if (process.argv[1] && /seed\.(ts|js)$/.test(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
