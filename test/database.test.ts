import { count, eq, sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import { perKey, prepared } from '../src/db/sql.js';
import { freshDatabase, freshDatabaseForSuite } from './helpers/app.js';
import { insertUser, onPostgres } from './helpers/db.js';

// The async unit of work over synchronous better-sqlite3: the pitfall is another
// request's code running while a unit of work awaits. These tests make a unit of work
// wait a real timer (a macrotask, when any other code may run) and look from outside.
// They hold for SQLite's one writer at a time; on PostgreSQL units of work run side by
// side under row locks, so the suite skips them there.
let database: ReturnType<typeof freshDatabase>['database'];

const usersNamed = async (name: string) => (await database.db.select({ n: count() }).from(users).where(eq(users.name, name)))[0]!.n;
const newUser = (name: string, email: string) => ({
  name,
  email,
  emailNormalized: email,
  passwordHash: 'x',
  referralCode: email.slice(0, 8).toUpperCase().padEnd(8, 'Z'),
  createdAt: new Date(),
});

describe.skipIf(onPostgres)('Database.transaction on SQLite', () => {
  beforeAll(() => {
    ({ database } = freshDatabase());
  });
  afterAll(() => database.close());

  it('never shows a unit of work’s uncommitted rows to reads outside it', async () => {
    let seenDuring = -1;
    await database.transaction(async (tx) => {
      await tx.insert(users).values(newUser('Uncommitted', 'uncommitted@db.test'));
      await sleep(20);
      seenDuring = await usersNamed('Uncommitted');
    });
    expect(seenDuring).toBe(0);
    expect(await usersNamed('Uncommitted')).toBe(1);
  });

  it('runs units of work one at a time, so one that fails takes nothing of another with it', async () => {
    const order: string[] = [];
    const failing = database.transaction(async (tx) => {
      order.push('a:start');
      await tx.insert(users).values(newUser('Rolled back', 'rolledback@db.test'));
      await sleep(30);
      order.push('a:throw');
      throw new Error('boom');
    });
    const other = database.transaction(async (tx) => {
      order.push('b:start');
      await tx.insert(users).values(newUser('Kept', 'kept@db.test'));
      order.push('b:end');
    });
    await expect(failing).rejects.toThrow('boom');
    await other;
    expect(order).toEqual(['a:start', 'a:throw', 'b:start', 'b:end']);
    expect(await usersNamed('Rolled back')).toBe(0);
    expect(await usersNamed('Kept')).toBe(1);
  });

  it('keeps counts exact when fifty units of work increment one row concurrently', async () => {
    const user = await insertUser(database.db, { name: 'Counter' });
    await Promise.all(
      Array.from({ length: 50 }, () =>
        database.transaction(async (tx) => {
          const [row] = await tx.select({ n: users.referralsCount }).from(users).where(eq(users.id, user.id));
          await sleep(1);
          await tx
            .update(users)
            .set({ referralsCount: row!.n + 1 })
            .where(eq(users.id, user.id));
        }),
      ),
    );
    const [after] = await database.db.select({ n: users.referralsCount }).from(users).where(eq(users.id, user.id));
    expect(after!.n).toBe(50);
  });
});

describe('perKey: statements for one integer key (a month)', () => {
  const fresh = freshDatabaseForSuite();

  // What the month leaderboard's statements go through: on SQLite the key is written into
  // the statement (planned once, never again for a new parameter value), on PostgreSQL it
  // stays a parameter of one named statement (no new statement per month on each connection).
  it('writes the key into the statement on SQLite, keeping the last few keys, and keeps one parameterised statement on PostgreSQL', async () => {
    const built: string[] = [];
    const statementsOf = perKey('month', 2, (key) => {
      const query = fresh()
        .db.select({ n: count() })
        .from(users)
        .where(sql`${users.referralsCount} = ${key}`);
      built.push(query.toSQL().sql);
      return { count: prepared(query) };
    });
    await insertUser(fresh().db, { name: 'Keyed' });
    const countFor = async (key: number) => (await statementsOf(key).count.get({ month: key }))!.n;
    expect(await countFor(0)).toBeGreaterThan(0);
    expect(await countFor(7)).toBe(0);
    expect(statementsOf(0)).toBe(statementsOf(0));
    if (onPostgres) {
      expect(built).toEqual([expect.stringMatching(/"referrals_count" = \$1\b/)]);
      expect(statementsOf(7)).toBe(statementsOf(0));
      return;
    }
    expect(built).toEqual([expect.stringMatching(/"referrals_count" = 0\b/), expect.stringMatching(/"referrals_count" = 7\b/)]);
    await countFor(8); // a third key: the least recently used (7) is let go
    await countFor(7);
    expect(built).toHaveLength(4);
    expect(() => statementsOf(1.5)).toThrow(TypeError);
    expect(() => statementsOf(Number.NaN)).toThrow(TypeError);
  });
});
