/**
 * node --import tsx bench/screen.ts <database file> <credits>
 *
 * What the fraud screen adds to one credit, measured in process on a seeded database:
 * the same referrals are settled with the screen on and off, inside a transaction that is
 * rolled back, so the database is left as it was. Prints JSON (microseconds per credit).
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import type { Tx } from '../src/db/client.js';
import { openDatabase } from '../src/db/database.js';
import { referrals, users } from '../src/db/schema.js';
import { createMailTemplates } from '../src/modules/mail/mail.templates.js';
import { createNotifications } from '../src/modules/mail/notifications.js';
import { createSignalHasher } from '../src/modules/referral/fraud.js';
import { createReferralLifecycle } from '../src/modules/referral/lifecycle.service.js';
import { pino } from 'pino';
import { createWebhooks } from '../src/modules/webhooks/webhooks.module.js';
import { createRewardsRepository } from '../src/modules/rewards/rewards.repository.js';
import { createRewardsService } from '../src/modules/rewards/rewards.service.js';
import { systemClock } from '../src/clock.js';
import { count, like } from 'drizzle-orm';

const [file, creditsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: bench/screen.ts <database file> <credits>');
const credits = Number(creditsArg ?? 2000);

// A SQLite file, or a postgres:// URL.
const database = openDatabase(file.startsWith('postgres') ? { databaseUrl: file, databaseFile: '' } : { databaseFile: file });
const db = database.db;
const config = loadConfig({ NODE_ENV: 'test', DATABASE_FILE: 'unused.db', SESSION_SECRET: 'benchmark-secret-benchmark-secret-0123456' });
const notifications = createNotifications({ templates: createMailTemplates(), config });
const rewardsRepo = createRewardsRepository(db);
const rewards = createRewardsService({ repo: rewardsRepo, clock: systemClock, onAwarded: (tx, u, tier, now) => notifications.rewardEarned(tx, u, tier, now) });
const hash = createSignalHasher(config.sessionSecret);
// Both arms write the same webhook rows (none: the seed has no endpoints), so the
// difference between them is the screen alone.
const events = createWebhooks({ database, config, clock: systemClock, logger: pino({ level: 'silent' }), notifications }).events;
const lifecycle = (fraudScreen: boolean) =>
  createReferralLifecycle({ config: { creditOn: 'verified', fraudScreen, fraudVelocity: 5 }, hash, rewards, notifications, events });

// Referrers are drawn from the seeded users, whose ids run 1…N without gaps (later sign-ups
// may leave gaps in PostgreSQL's sequence after rolled-back inserts).
const total = (await db.select({ n: count() }).from(users).where(like(users.email, '%@seed.test')))[0]!.n;
class Rollback extends Error {}

/** Settles `credits` fresh referrals (new users referred by random existing ones) and times each settle. */
async function timed(fraudScreen: boolean, seed: number): Promise<{ settleUs: number; screenUs: number }> {
  const life = lifecycle(fraudScreen);
  let settleMs = 0;
  let screenMs = 0;
  try {
    await database.transaction(async (tx: Tx) => {
      let x = seed;
      const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
      for (let i = 0; i < credits; i++) {
        const referrerId = 1 + (next() % total);
        const now = new Date();
        const email = `bench${seed}-${i}@bench.example`;
        const [referred] = await tx
          .insert(users)
          .values({
            name: 'Bench',
            email,
            emailNormalized: email,
            passwordHash: 'x',
            referralCode: `B${seed}${i}`.padEnd(8, 'Z').slice(0, 16),
            emailVerifiedAt: now,
            createdAt: now,
          })
          .returning();
        const client = { networkHash: hash('network', `10.${i % 250}.${seed % 250}.0/24`), deviceHash: hash('device', `d${seed}-${i}`) };
        const [pending] = await tx
          .insert(referrals)
          .values({
            referrerId,
            referredUserId: referred!.id,
            referredEmail: email,
            source: 'signup',
            status: 'pending',
            ...client,
            emailAliasHash: hash('email', email),
            createdAt: now,
          })
          .returning();
        const a = performance.now();
        await life.screen(tx, pending!);
        const b = performance.now();
        await life.onEmailVerifiedInTx(tx, referred!.id, now);
        const c = performance.now();
        screenMs += b - a;
        settleMs += c - b;
      }
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return { settleUs: (settleMs * 1000) / credits, screenUs: (screenMs * 1000) / credits };
}

// Warm the page cache and the JIT, then alternate on and off.
await timed(true, 1);
const on: number[] = [];
const off: number[] = [];
const screenOnly: number[] = [];
for (let round = 0; round < 3; round++) {
  const r = await timed(true, 10 + round);
  on.push(r.settleUs);
  screenOnly.push(r.screenUs);
  off.push((await timed(false, 20 + round)).settleUs);
}
const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
console.log(JSON.stringify({ users: total, credits, settleOnUs: mean(on), settleOffUs: mean(off), screenUs: mean(screenOnly) }));
await database.close();
