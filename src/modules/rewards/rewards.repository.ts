import { and, asc, desc, eq, gt, inArray, lt, lte, or, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { friendRewards, rewardTiers, userRewards, users, type FriendReward, type Referral, type RewardTier } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import { exec, isTrue, prepared, rows } from '../../db/sql.js';

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

/**
 * The referred friend's half of a credit, with the offer as it reads now. One row per
 * friend (UNIQUE user_id), so a second credit changes nothing; a row withdrawn by an
 * earlier revocation is awarded again, with this credit's offer and time.
 */
export async function awardFriendInTx(tx: Tx, referral: Pick<Referral, 'id' | 'referredUserId'>, offer: string, now: Date): Promise<void> {
  await tx
    .insert(friendRewards)
    .values({ userId: referral.referredUserId, referralId: referral.id, offer, status: 'awarded', awardedAt: now })
    .onConflictDoUpdate({
      target: friendRewards.userId,
      set: { referralId: referral.id, offer, status: 'awarded', awardedAt: now, fulfilledAt: null },
      setWhere: eq(friendRewards.status, 'withdrawn'),
    });
}

/**
 * After a revocation: the friend's award is withdrawn if it is still waiting. A fulfilled
 * one stays fulfilled: it was handed out, and the record says so.
 */
export async function withdrawFriendInTx(tx: Tx, referredUserId: number): Promise<boolean> {
  const withdrawn = await tx
    .update(friendRewards)
    .set({ status: 'withdrawn' })
    .where(and(eq(friendRewards.userId, referredUserId), eq(friendRewards.status, 'awarded')))
    .returning({ id: friendRewards.id });
  return withdrawn.length === 1;
}

/** Where a page of the admin's friend-reward list starts: after this row, in (awarded_at, id) descending order. */
export interface FriendRewardCursor {
  awardedAt: Date;
  id: number;
}

export function createRewardsRepository(db: Db) {
  // Read by every dashboard of a referred person: a unique-index lookup, built once.
  const friendRewardStmt = prepared(
    db
      .select()
      .from(friendRewards)
      .where(eq(friendRewards.userId, sql.placeholder('userId')))
      .limit(1),
  );

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
    fulfillInTx: async (tx: Tx, userRewardId: number, now: Date): Promise<{ userId: number } | undefined> => {
      const [done] = await tx
        .update(userRewards)
        .set({ status: 'fulfilled', fulfilledAt: now })
        .where(and(eq(userRewards.id, userRewardId), eq(userRewards.status, 'awarded')))
        .returning({ userId: userRewards.userId });
      return done;
    },

    /** A friend's reward (one per person), whatever its status. */
    friendRewardOf: (userId: number): Promise<FriendReward | undefined> => friendRewardStmt.get({ userId }),

    /**
     * One page of friend rewards in one status, newest award first, with each friend's
     * name and address: `limit` rows from the (status, awarded_at) index after the cursor,
     * so a page costs the same at the millionth row as at the first. The `<=` bound is
     * what both engines seek to in the index; the OR then only breaks ties by id. (Written
     * so rather than as a row comparison, which PostgreSQL turns into the same bound twice
     * and then underestimates, choosing to sort everything older than the cursor.)
     */
    async friendRewardsPage(status: FriendReward['status'], after: FriendRewardCursor | undefined, limit: number) {
      return db
        .select({
          id: friendRewards.id,
          userId: friendRewards.userId,
          offer: friendRewards.offer,
          status: friendRewards.status,
          awardedAt: friendRewards.awardedAt,
          fulfilledAt: friendRewards.fulfilledAt,
          name: users.name,
          email: users.email,
        })
        .from(friendRewards)
        .innerJoin(users, eq(users.id, friendRewards.userId))
        .where(
          and(
            eq(friendRewards.status, status),
            after
              ? and(lte(friendRewards.awardedAt, after.awardedAt), or(lt(friendRewards.awardedAt, after.awardedAt), lt(friendRewards.id, after.id)))
              : undefined,
          ),
        )
        .orderBy(desc(friendRewards.awardedAt), desc(friendRewards.id))
        .limit(limit);
    },

    /** Marks an awarded friend reward fulfilled; returns its friend, or undefined if it was not awarded. */
    fulfillFriendInTx: async (tx: Tx, friendRewardId: number, now: Date): Promise<{ userId: number } | undefined> => {
      const [done] = await tx
        .update(friendRewards)
        .set({ status: 'fulfilled', fulfilledAt: now })
        .where(and(eq(friendRewards.id, friendRewardId), eq(friendRewards.status, 'awarded')))
        .returning({ userId: friendRewards.userId });
      return done;
    },

    rewardExistsInTx: async (tx: Tx, userRewardId: number): Promise<boolean> =>
      (await tx.select({ id: userRewards.id }).from(userRewards).where(eq(userRewards.id, userRewardId)).limit(1)).length === 1,

    friendRewardExistsInTx: async (tx: Tx, friendRewardId: number): Promise<boolean> =>
      (await tx.select({ id: friendRewards.id }).from(friendRewards).where(eq(friendRewards.id, friendRewardId)).limit(1)).length === 1,

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
