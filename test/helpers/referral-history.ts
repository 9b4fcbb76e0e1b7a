import { and, eq, ne } from 'drizzle-orm';
import fc from 'fast-check';
import type { Db } from '../../src/db/client.js';
import { LEADERBOARD_DISPLAYS, referrals, users, type LeaderboardDisplay, type User } from '../../src/db/schema.js';
import { insertUser } from './db.js';

/**
 * A random history of referral rows for three referrers, written straight to the tables so
 * that only the triggers keep the derived tables (referral_days, period_scores, …): what the
 * property tests compare with a brute force over the rows.
 */
export type ReferralOp =
  | { kind: 'add'; referrer: number; credited: boolean; day: number }
  | { kind: 'credit'; which: number; day: number }
  | { kind: 'leave'; which: number; to: 'revoked' | 'held' | 'rejected' }
  | { kind: 'delete'; which: number }
  | { kind: 'toggle'; referrer: number }
  | { kind: 'rename'; referrer: number; name: string; display: LeaderboardDisplay };

/**
 * Ops over `days` days; `toggle` (a referrer disabled or enabled) and `rename` (a new name
 * and leaderboard display choice) only when asked for.
 */
export function referralOpArb(options: { days: number; toggles?: boolean; renames?: boolean }): fc.Arbitrary<ReferralOp> {
  const day = fc.integer({ min: 0, max: options.days });
  const ops: fc.Arbitrary<ReferralOp>[] = [
    fc.record({ kind: fc.constant('add' as const), referrer: fc.integer({ min: 0, max: 2 }), credited: fc.boolean(), day }),
    fc.record({ kind: fc.constant('credit' as const), which: fc.nat(), day }),
    fc.record({ kind: fc.constant('leave' as const), which: fc.nat(), to: fc.constantFrom('revoked' as const, 'held' as const, 'rejected' as const) }),
    fc.record({ kind: fc.constant('delete' as const), which: fc.nat() }),
  ];
  if (options.toggles) ops.push(fc.record({ kind: fc.constant('toggle' as const), referrer: fc.integer({ min: 0, max: 2 }) }));
  if (options.renames) {
    ops.push(
      fc.record({
        kind: fc.constant('rename' as const),
        referrer: fc.integer({ min: 0, max: 2 }),
        name: fc.string({ minLength: 1, maxLength: 12 }),
        display: fc.constantFrom(...LEADERBOARD_DISPLAYS),
      }),
    );
  }
  return fc.oneof(...ops);
}

/** Applies a history to three fresh referrers; `at(day)` is when a day's credits happen. */
export async function applyReferralHistory(db: Db, ops: readonly ReferralOp[], at: (day: number) => Date): Promise<User[]> {
  const referrers = [await insertUser(db), await insertUser(db), await insertUser(db)];
  const ids: number[] = [];
  for (const op of ops) {
    if (op.kind === 'add') {
      const friend = await insertUser(db);
      const when = at(op.day);
      const [row] = await db
        .insert(referrals)
        .values({
          referrerId: referrers[op.referrer]!.id,
          referredUserId: friend.id,
          referredEmail: friend.email,
          source: 'signup',
          status: op.credited ? 'credited' : 'pending',
          createdAt: when,
          creditedAt: op.credited ? when : null,
        })
        .returning({ id: referrals.id });
      ids.push(row!.id);
      continue;
    }
    if (op.kind === 'toggle') {
      const id = referrers[op.referrer]!.id;
      const [u] = await db.select({ status: users.status }).from(users).where(eq(users.id, id));
      await db
        .update(users)
        .set({ status: u!.status === 'active' ? 'disabled' : 'active' })
        .where(eq(users.id, id));
      continue;
    }
    if (op.kind === 'rename') {
      await db.update(users).set({ name: op.name, leaderboardDisplay: op.display }).where(eq(users.id, referrers[op.referrer]!.id));
      continue;
    }
    if (ids.length === 0) continue;
    const id = ids[op.which % ids.length]!;
    if (op.kind === 'credit') {
      await db
        .update(referrals)
        .set({ status: 'credited', creditedAt: at(op.day) })
        .where(and(eq(referrals.id, id), ne(referrals.status, 'credited')));
    } else if (op.kind === 'leave') {
      await db.update(referrals).set({ status: op.to }).where(eq(referrals.id, id));
    } else {
      await db.delete(referrals).where(eq(referrals.id, id));
      ids.splice(ids.indexOf(id), 1);
    }
  }
  return referrers;
}
