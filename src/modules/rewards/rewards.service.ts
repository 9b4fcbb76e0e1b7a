import type { Clock } from '../../clock.js';
import { uniqueViolation } from '../../db/errors.js';
import type { Referral, RewardTier } from '../../db/schema.js';
import { conflict, notFound } from '../../errors.js';
import type { Tx } from '../../db/client.js';
import {
  awardFriendInTx,
  awardReachedInTx,
  withdrawAboveInTx,
  withdrawFriendInTx,
  type FriendRewardCursor,
  type RewardsRepository,
  type TierInput,
} from './rewards.repository.js';

export const THRESHOLD_TAKEN = 'Another tier already uses this threshold.';

export interface RewardsServiceDeps {
  repo: RewardsRepository;
  clock: Clock;
  /** Queues the "reward earned" email and webhook inside the credit's transaction. */
  onAwarded?: (tx: Tx, user: { id: number; name: string; email: string; emailVerifiedAt: Date | null }, tier: RewardTier, now: Date) => Promise<void>;
  /**
   * The program's friend offer as committed, read in the credit's transaction (so that
   * the friend's award records the offer of that moment, whichever worker credits);
   * empty: no offer, no friend reward. Without it (the benchmark) no friend is awarded.
   */
  friendOfferInTx?: (tx: Tx) => Promise<string>;
}

/** What a credit or a revocation did to rewards, for the audit row. */
export interface RewardsWithdrawn {
  tiers: number;
  friend: boolean;
}

export function createRewardsService(deps: RewardsServiceDeps) {
  const { repo, clock } = deps;

  return {
    /**
     * Runs inside the transaction that credits a referral: the referrer's tiers (award and
     * email together) and the referred friend's half of a double-sided offer.
     */
    async onCreditedInTx(tx: Tx, referral: Referral, now: Date): Promise<void> {
      const offer = deps.friendOfferInTx ? await deps.friendOfferInTx(tx) : '';
      if (offer) await awardFriendInTx(tx, referral, offer, now);
      const referrer = await repo.referralsCountInTx(tx, referral.referrerId);
      if (!referrer) return;
      // One after the other: the statements of a unit of work share its connection.
      for (const tier of await awardReachedInTx(tx, referral.referrerId, referrer.count, now)) {
        await deps.onAwarded?.(tx, referrer, tier, now);
      }
    },

    /** Runs inside the transaction that revokes a referral: what the referrer's count no longer supports, and the friend's award. */
    async onRevokedInTx(tx: Tx, referral: Pick<Referral, 'referrerId' | 'referredUserId'>): Promise<RewardsWithdrawn> {
      const friend = await withdrawFriendInTx(tx, referral.referredUserId);
      const referrer = await repo.referralsCountInTx(tx, referral.referrerId);
      return { tiers: referrer ? await withdrawAboveInTx(tx, referral.referrerId, referrer.count) : 0, friend };
    },

    /** A referred friend's reward, whatever its status; undefined when they were never awarded one. */
    friendRewardOf: repo.friendRewardOf,

    /** A page of the admin's friend-reward list and where the next one starts (null on the last). */
    async friendRewardsPage(status: 'awarded' | 'fulfilled' | 'withdrawn', after: FriendRewardCursor | undefined, pageSize: number) {
      // One row more than shown: whether there is a next page, without counting.
      const rows = await repo.friendRewardsPage(status, after, pageSize + 1);
      const shown = rows.slice(0, pageSize);
      const last = shown[shown.length - 1];
      return { rows: shown, next: rows.length > pageSize && last ? { awardedAt: last.awardedAt, id: last.id } : null };
    },

    /** What the dashboard shows: rewards held and how far the next tier is. */
    async progressOf(user: { id: number; referralsCount: number }) {
      const earned = await repo.rewardsOf(user.id);
      const next = await repo.nextTierAbove(user.referralsCount);
      return {
        earned,
        next: next
          ? {
              name: next.name,
              description: next.description,
              threshold: next.threshold,
              remaining: next.threshold - user.referralsCount,
              // "2 of 3 referrals" reads as 67%: the whole way to the tier, as people count it.
              percent: Math.floor((user.referralsCount / next.threshold) * 100),
            }
          : null,
      };
    },

    async createTierInTx(tx: Tx, input: TierInput): Promise<RewardTier> {
      try {
        // Awaited here, so that the unique violation is caught below.
        return await repo.createTierInTx(tx, input, clock.now());
      } catch (err) {
        if (uniqueViolation(err) === 'reward_tiers.threshold') throw conflict(THRESHOLD_TAKEN, 'threshold');
        throw err;
      }
    },

    async updateTierInTx(tx: Tx, id: number, input: TierInput): Promise<RewardTier> {
      try {
        const tier = await repo.updateTierInTx(tx, id, input, clock.now());
        if (!tier) throw notFound('No such reward tier.');
        return tier;
      } catch (err) {
        if (uniqueViolation(err) === 'reward_tiers.threshold') throw conflict(THRESHOLD_TAKEN, 'threshold');
        throw err;
      }
    },
  };
}

export type RewardsService = ReturnType<typeof createRewardsService>;
