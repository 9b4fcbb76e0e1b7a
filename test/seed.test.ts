import path from 'node:path';
import bcrypt from 'bcrypt';
import { describe, expect, it } from 'vitest';
import { referralGraph, seedDatabase } from '../src/cli/seed.js';
import { users } from '../src/db/schema.js';
import { freshDatabase, tempDir } from './helpers/app.js';
import { countOf, one, onPostgres, openDatabaseOf } from './helpers/db.js';

describe('db:seed', () => {
  // The same seed and the same checks on the engine under test: a SQLite file, or under
  // `npm run test:pg` a fresh PostgreSQL database (INSERT … SELECT FROM unnest, triggers
  // set aside and score_counts rebuilt).
  it('fills an empty database with consistent users, referrals, rankings and rewards', async () => {
    const { database: fresh, file, url, drop } = freshDatabase();
    await fresh.close();
    const target = { databaseFile: onPostgres ? file : path.join(tempDir(), 'seed.db'), databaseUrl: url };
    try {
      const result = await seedDatabase(target, { users: 3000, password: 'seed pass 42', seed: 7 }, 4);
      const database = openDatabaseOf({ dbFile: target.databaseFile, databaseUrl: url });
      const db = database.db;
      try {
        expect(await one(db, 'select count(*) as n from users')).toEqual({ n: 3000 });
        expect(await one(db, 'select name, email from users where id = 17')).toEqual({ name: 'Seed User 17', email: 'user17@seed.test' });
        expect(await countOf(db, 'select count(*) from referrals')).toBe(result.referrals);
        // Every count agrees with the referral rows behind it.
        const mismatches = await countOf(
          db,
          "select count(*) from users u where u.referrals_count <> (select count(*) from referrals r where r.referrer_id = u.id and r.status = 'credited')",
        );
        expect(mismatches).toBe(0);
        expect(
          await countOf(db, 'select count(*) from users u join referrals r on r.referred_user_id = u.id where u.referred_by_id is distinct from r.referrer_id'),
        ).toBe(0);
        const ranked = await countOf(db, "select count(*) from users where status = 'active' and referrals_count > 0");
        expect(await countOf(db, 'select coalesce(sum(users), 0) from score_counts')).toBe(ranked);
        expect(await countOf(db, 'select count(distinct referral_code) from users')).toBe(3000);
        // Every code is in the alias table, and the monthly rankings hold every credit once.
        expect(await countOf(db, 'select count(*) from referral_codes')).toBe(3000);
        expect(await countOf(db, 'select coalesce(sum(referrals), 0) from period_scores')).toBe(
          await countOf(db, "select count(*) from referrals where status = 'credited'"),
        );
        expect(await countOf(db, 'select coalesce(sum(users), 0) from period_score_counts')).toBe(
          await countOf(db, 'select count(*) from period_scores where referrals > 0'),
        );
        // The funnel holds every referred sign-up and credit once, on its day.
        expect(await countOf(db, 'select coalesce(sum(signups), 0) from channel_days')).toBe(result.referrals);
        expect(await countOf(db, 'select coalesce(sum(credited), 0) from channel_days')).toBe(
          await countOf(db, "select count(*) from referrals where status = 'credited'"),
        );
        expect(
          await countOf(
            db,
            'select count(*) from (select created_at / 86400000 as day, channel, count(*) as n from referrals group by 1, 2) r left join channel_days c on c.day = r.day and c.channel = r.channel where c.signups is distinct from r.n',
          ),
        ).toBe(0);
        expect(
          await countOf(
            db,
            'select count(*) from user_rewards r join reward_tiers t on t.id = r.tier_id join users u on u.id = r.user_id where t.threshold > u.referrals_count',
          ),
        ).toBe(0);
        expect(await countOf(db, 'select count(*) from users where email_verified_at is null')).toBe(0);
        const hash = (await one<{ password_hash: string }>(db, 'select password_hash from users where id = 3000'))!.password_hash;
        expect(await bcrypt.compare('seed pass 42', hash)).toBe(true);
        // New rows after a seed get fresh ids (PostgreSQL's identity was moved past the seed).
        const [next] = await db
          .insert(users)
          .values({
            name: 'After',
            email: 'after@seed.test',
            emailNormalized: 'after@seed.test',
            passwordHash: 'x',
            referralCode: 'AFTERSD1',
            createdAt: new Date(),
          })
          .returning();
        expect(next!.id).toBe(3001);
      } finally {
        await database.close();
      }
      await expect(seedDatabase(target, { users: 10, password: 'x' }, 4)).rejects.toThrow(/already has 3001 users/);
    } finally {
      drop();
    }
  });

  it('draws a power law: most people refer no one, a few refer very many', () => {
    let s = 1;
    const random = () => (s = (s * 48271) % 2147483647) / 2147483647;
    const { counts } = referralGraph(100_000, random);
    const values = Array.from(counts).slice(1);
    const zero = values.filter((c) => c === 0).length;
    const top = Math.max(...values);
    const total = values.reduce((a, b) => a + b, 0);
    expect(zero / values.length).toBeGreaterThan(0.7);
    expect(top).toBeGreaterThan(100);
    // The top 1% of referrers hold a large share of all referrals.
    const top1 = values
      .sort((a, b) => b - a)
      .slice(0, 1000)
      .reduce((a, b) => a + b, 0);
    expect(top1 / total).toBeGreaterThan(0.2);
    // The launch account gets 1% of the 60,000 referrals on top of what it earns like anyone.
    expect(counts[1]).toBeGreaterThan(550);
    expect(counts[1]).toBe(top);
  });
});
