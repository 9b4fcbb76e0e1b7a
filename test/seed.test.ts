import path from 'node:path';
import Database from 'better-sqlite3';
import bcrypt from 'bcrypt';
import { describe, expect, it } from 'vitest';
import { referralGraph, seedDatabase } from '../src/cli/seed.js';
import { tempDir } from './helpers/app.js';

describe('db:seed', () => {
  it('fills an empty database with consistent users, referrals, rankings and rewards', async () => {
    const file = path.join(tempDir(), 'seed.db');
    const result = await seedDatabase(file, { users: 3000, password: 'seed pass 42', seed: 7 }, 4);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('select count(*) as n from users').get()).toEqual({ n: 3000 });
      expect(db.prepare('select name, email from users where id = 17').get()).toEqual({ name: 'Seed User 17', email: 'user17@seed.test' });
      expect((db.prepare('select count(*) as n from referrals').get() as { n: number }).n).toBe(result.referrals);
      // Every count agrees with the referral rows behind it.
      const mismatches = db
        .prepare('select count(*) as n from users u where u.referrals_count <> (select count(*) from referrals r where r.referrer_id = u.id and r.status = \'credited\')')
        .get() as { n: number };
      expect(mismatches.n).toBe(0);
      expect(db.prepare('select count(*) as n from users u join referrals r on r.referred_user_id = u.id where u.referred_by_id is not r.referrer_id').get()).toEqual({ n: 0 });
      const ranked = db.prepare("select count(*) as n from users where status = 'active' and referrals_count > 0").get() as { n: number };
      expect(db.prepare('select sum(users) as n from score_counts').get()).toEqual(ranked);
      expect(db.prepare('select count(distinct referral_code) as n from users').get()).toEqual({ n: 3000 });
      expect(db.prepare('select count(*) as n from user_rewards r join reward_tiers t on t.id = r.tier_id join users u on u.id = r.user_id where t.threshold > u.referrals_count').get()).toEqual({ n: 0 });
      const hash = (db.prepare('select password_hash from users where id = 3000').get() as { password_hash: string }).password_hash;
      expect(await bcrypt.compare('seed pass 42', hash)).toBe(true);
    } finally {
      db.close();
    }
    await expect(seedDatabase(file, { users: 10, password: 'x' }, 4)).rejects.toThrow(/already has 3000 users/);
  });

  it('draws a power law: most people refer no one, a few refer very many', () => {
    let s = 1;
    const random = () => ((s = (s * 48271) % 2147483647) / 2147483647);
    const { counts } = referralGraph(100_000, random);
    const values = Array.from(counts).slice(1);
    const zero = values.filter((c) => c === 0).length;
    const top = Math.max(...values);
    const total = values.reduce((a, b) => a + b, 0);
    expect(zero / values.length).toBeGreaterThan(0.7);
    expect(top).toBeGreaterThan(100);
    // The top 1% of referrers hold a large share of all referrals.
    const top1 = values.sort((a, b) => b - a).slice(0, 1000).reduce((a, b) => a + b, 0);
    expect(top1 / total).toBeGreaterThan(0.2);
  });
});
