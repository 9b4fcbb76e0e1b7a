import type { RewardTier } from '../../db/schema.js';

/** The `reward.earned` webhook's data. */
export function rewardEarnedData(participantId: number, tier: RewardTier, awardedAt: Date) {
  return {
    participant_id: participantId,
    reward: { id: tier.id, name: tier.name, description: tier.description, threshold: tier.threshold },
    awarded_at: awardedAt.toISOString(),
  };
}
