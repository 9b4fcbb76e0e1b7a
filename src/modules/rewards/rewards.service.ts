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
  /** Queues the "reward earned" email inside the credit's transaction. */
  onAwarded?: (tx: Tx, user: { name: string; email: string; emailVerifiedAt: Date | null }, tier: RewardTier, now: Date) => void;
}

export function createRewardsService(deps: RewardsServiceDeps) {
  const { repo, clock } = deps;

  return {
    /** Runs inside the transaction that credits a referral: award and email together. */
    onCreditedInTx(tx: Tx, referral: Referral, now: Date): void {
      const referrer = repo.referralsCountInTx(tx, referral.referrerId);
      if (!referrer) return;
      for (const tier of awardReachedInTx(tx, referral.referrerId, referrer.count, now)) {
        deps.onAwarded?.(tx, referrer, tier, now);
      }
    },

    /** Runs inside the transaction that revokes a referral. */
    onRevokedInTx(tx: Tx, referrerId: number): number {
      const referrer = repo.referralsCountInTx(tx, referrerId);
      return referrer ? withdrawAboveInTx(tx, referrerId, referrer.count) : 0;
    },

    /** What the dashboard shows: rewards held and how far the next tier is. */
    progressOf(user: { id: number; referralsCount: number }) {
      const earned = repo.rewardsOf(user.id);
      const next = repo.nextTierAbove(user.referralsCount);
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

    createTierInTx(tx: Tx, input: TierInput): RewardTier {
      try {
        return repo.createTierInTx(tx, input, clock.now());
      } catch (err) {
        if (uniqueViolation(err) === 'reward_tiers.threshold') throw conflict(THRESHOLD_TAKEN, 'threshold');
        throw err;
      }
    },

    updateTierInTx(tx: Tx, id: number, input: TierInput): RewardTier {
      try {
        const tier = repo.updateTierInTx(tx, id, input, clock.now());
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
