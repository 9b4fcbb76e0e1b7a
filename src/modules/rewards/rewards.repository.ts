import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { rewardTiers, userRewards, users, type RewardTier } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';

export interface TierInput {
  name: string;
  description: string;
  threshold: number;
  active: boolean;
}

/**
 * Awards every active tier the user's count has reached and they do not hold yet (or
 * lost to a revocation). The UNIQUE (user, tier) index makes a second award impossible,
 * however many credits race. Returns the tiers newly awarded, for their emails.
 */
export function awardReachedInTx(tx: Tx, userId: number, referralsCount: number, now: Date): RewardTier[] {
  const awarded = tx.all<{ tier_id: number }>(sql`
    insert into user_rewards (user_id, tier_id, status, awarded_at)
    select ${userId}, id, 'awarded', ${now.getTime()} from reward_tiers
    where active = 1 and threshold <= ${referralsCount}
    on conflict (user_id, tier_id) do update set status = 'awarded', awarded_at = excluded.awarded_at
      where user_rewards.status = 'withdrawn'
    returning tier_id`);
  if (awarded.length === 0) return [];
  return tx
    .select()
    .from(rewardTiers)
    .where(inArray(rewardTiers.id, awarded.map((a) => a.tier_id)))
    .orderBy(asc(rewardTiers.threshold))
    .all();
}

/** After a revocation: unfulfilled rewards above the new count are withdrawn; fulfilled ones stay. */
export function withdrawAboveInTx(tx: Tx, userId: number, referralsCount: number): number {
  return tx.run(sql`
    update user_rewards set status = 'withdrawn'
    where user_id = ${userId} and status = 'awarded'
      and tier_id in (select id from reward_tiers where threshold > ${referralsCount})`).changes;
}

export function createRewardsRepository(db: Db) {
  return {
    listTiers: (): RewardTier[] => db.select().from(rewardTiers).orderBy(asc(rewardTiers.threshold)).all(),
    tierById: (id: number): RewardTier | undefined => db.select().from(rewardTiers).where(eq(rewardTiers.id, id)).get(),

    createTierInTx: (tx: Tx, input: TierInput, now: Date): RewardTier =>
      tx.insert(rewardTiers).values({ ...input, createdAt: now, updatedAt: now }).returning().get(),
    updateTierInTx: (tx: Tx, id: number, input: TierInput, now: Date): RewardTier | undefined =>
      tx.update(rewardTiers).set({ ...input, updatedAt: now }).where(eq(rewardTiers.id, id)).returning().get(),

    /** A user's rewards with their tier, highest threshold first; withdrawn ones left out. */
    rewardsOf(userId: number) {
      return db
        .select({
          id: userRewards.id,
          status: userRewards.status,
          awardedAt: userRewards.awardedAt,
          fulfilledAt: userRewards.fulfilledAt,
          name: rewardTiers.name,
          description: rewardTiers.description,
          threshold: rewardTiers.threshold,
        })
        .from(userRewards)
        .innerJoin(rewardTiers, eq(rewardTiers.id, userRewards.tierId))
        .where(and(eq(userRewards.userId, userId), sql`${userRewards.status} <> 'withdrawn'`))
        .orderBy(desc(rewardTiers.threshold))
        .all();
    },

    /** Marks an awarded reward fulfilled; returns its owner, or undefined if it was not awarded. */
    fulfillInTx(tx: Tx, userRewardId: number, now: Date): { userId: number } | undefined {
      return tx
        .update(userRewards)
        .set({ status: 'fulfilled', fulfilledAt: now })
        .where(and(eq(userRewards.id, userRewardId), eq(userRewards.status, 'awarded')))
        .returning({ userId: userRewards.userId })
        .get();
    },

    /** The lowest active tier above a count: the next thing to aim for. */
    nextTierAbove: (referralsCount: number): RewardTier | undefined =>
      db
        .select()
        .from(rewardTiers)
        .where(and(eq(rewardTiers.active, true), gt(rewardTiers.threshold, referralsCount)))
        .orderBy(asc(rewardTiers.threshold))
        .limit(1)
        .get(),

    referralsCountInTx: (tx: Tx, userId: number): { count: number; name: string; email: string; emailVerifiedAt: Date | null } | undefined =>
      tx
        .select({ count: users.referralsCount, name: users.name, email: users.email, emailVerifiedAt: users.emailVerifiedAt })
        .from(users)
        .where(eq(users.id, userId))
        .get(),
  };
}

export type RewardsRepository = ReturnType<typeof createRewardsRepository>;
