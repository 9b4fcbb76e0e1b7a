import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { rewardTiers, userRewards, users, type RewardTier } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import { exec, isTrue, rows } from '../../db/sql.js';

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
export async function awardReachedInTx(tx: Tx, userId: number, referralsCount: number, now: Date): Promise<RewardTier[]> {
  const awarded = await rows<{ tier_id: number }>(
    tx,
    sql`
    insert into user_rewards (user_id, tier_id, status, awarded_at)
    select cast(${userId} as integer), id, 'awarded', cast(${now.getTime()} as bigint) from reward_tiers
    where ${isTrue(rewardTiers.active)} and threshold <= ${referralsCount}
    on conflict (user_id, tier_id) do update set status = 'awarded', awarded_at = excluded.awarded_at
      where user_rewards.status = 'withdrawn'
    returning tier_id`,
  );
  if (awarded.length === 0) return [];
  return tx
    .select()
    .from(rewardTiers)
    .where(
      inArray(
        rewardTiers.id,
        awarded.map((a) => a.tier_id),
      ),
    )
    .orderBy(asc(rewardTiers.threshold));
}

/** After a revocation: unfulfilled rewards above the new count are withdrawn; fulfilled ones stay. */
export async function withdrawAboveInTx(tx: Tx, userId: number, referralsCount: number): Promise<number> {
  return exec(
    tx,
    sql`
    update user_rewards set status = 'withdrawn'
    where user_id = ${userId} and status = 'awarded'
      and tier_id in (select id from reward_tiers where threshold > ${referralsCount})`,
  );
}

export function createRewardsRepository(db: Db) {
  return {
    listTiers: async (): Promise<RewardTier[]> => db.select().from(rewardTiers).orderBy(asc(rewardTiers.threshold)),
    tierById: async (id: number): Promise<RewardTier | undefined> => (await db.select().from(rewardTiers).where(eq(rewardTiers.id, id)).limit(1))[0],

    createTierInTx: async (tx: Tx, input: TierInput, now: Date): Promise<RewardTier> =>
      (
        await tx
          .insert(rewardTiers)
          .values({ ...input, createdAt: now, updatedAt: now })
          .returning()
      )[0]!,
    updateTierInTx: async (tx: Tx, id: number, input: TierInput, now: Date): Promise<RewardTier | undefined> =>
      (
        await tx
          .update(rewardTiers)
          .set({ ...input, updatedAt: now })
          .where(eq(rewardTiers.id, id))
          .returning()
      )[0],

    /** A user's rewards with their tier, highest threshold first; withdrawn ones left out. */
    async rewardsOf(userId: number) {
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
        .orderBy(desc(rewardTiers.threshold));
    },

    /** Marks an awarded reward fulfilled; returns its owner, or undefined if it was not awarded. */
    async fulfillInTx(tx: Tx, userRewardId: number, now: Date): Promise<{ userId: number } | undefined> {
      const [done] = await tx
        .update(userRewards)
        .set({ status: 'fulfilled', fulfilledAt: now })
        .where(and(eq(userRewards.id, userRewardId), eq(userRewards.status, 'awarded')))
        .returning({ userId: userRewards.userId });
      return done;
    },

    /** The lowest active tier above a count: the next thing to aim for. */
    nextTierAbove: async (referralsCount: number): Promise<RewardTier | undefined> =>
      (
        await db
          .select()
          .from(rewardTiers)
          .where(and(eq(rewardTiers.active, true), gt(rewardTiers.threshold, referralsCount)))
          .orderBy(asc(rewardTiers.threshold))
          .limit(1)
      )[0],

    referralsCountInTx: async (
      tx: Tx,
      userId: number,
    ): Promise<{ id: number; count: number; name: string; email: string; emailVerifiedAt: Date | null } | undefined> =>
      (
        await tx
          .select({ id: users.id, count: users.referralsCount, name: users.name, email: users.email, emailVerifiedAt: users.emailVerifiedAt })
          .from(users)
          .where(eq(users.id, userId))
          .limit(1)
      )[0],
  };
}

export type RewardsRepository = ReturnType<typeof createRewardsRepository>;
