import type { Clock } from '../../clock.js';
import { uniqueViolation } from '../../db/errors.js';
import type { Referral, RewardTier } from '../../db/schema.js';
import { conflict, notFound } from '../../errors.js';
import type { Tx } from '../../db/client.js';
import { awardReachedInTx, withdrawAboveInTx, type RewardsRepository, type TierInput } from './rewards.repository.js';

export const THRESHOLD_TAKEN = 'Another tier already uses this threshold.';

export interface RewardsServiceDeps {
  repo: RewardsRepository;
  clock: Clock;
  /** Queues the "reward earned" email and webhook inside the credit's transaction. */
  onAwarded?: (tx: Tx, user: { id: number; name: string; email: string; emailVerifiedAt: Date | null }, tier: RewardTier, now: Date) => Promise<void>;
}

export function createRewardsService(deps: RewardsServiceDeps) {
  const { repo, clock } = deps;

  return {
    /** Runs inside the transaction that credits a referral: award and email together. */
    async onCreditedInTx(tx: Tx, referral: Referral, now: Date): Promise<void> {
      const referrer = await repo.referralsCountInTx(tx, referral.referrerId);
      if (!referrer) return;
      // One after the other: the statements of a unit of work share its connection.
      for (const tier of await awardReachedInTx(tx, referral.referrerId, referrer.count, now)) {
        await deps.onAwarded?.(tx, referrer, tier, now);
      }
    },

    /** Runs inside the transaction that revokes a referral. */
    async onRevokedInTx(tx: Tx, referrerId: number): Promise<number> {
      const referrer = await repo.referralsCountInTx(tx, referrerId);
      return referrer ? withdrawAboveInTx(tx, referrerId, referrer.count) : 0;
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
