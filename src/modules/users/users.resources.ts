import type { User } from '../../db/schema.js';

/**
 * A participant as the integration API and webhooks show it: snake_case, no secrets, no
 * hashes. `rank` is added by the API, which reads it from the leaderboard.
 */
export function participantData(user: User, baseUrl: string) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    referral_code: user.referralCode,
    referral_link: `${baseUrl}/r/${user.referralCode}`,
    referrals_count: user.referralsCount,
    referred_by_id: user.referredById,
    status: user.deletedAt ? 'deleted' : user.status,
    email_verified: user.emailVerifiedAt !== null,
    converted_at: user.convertedAt?.toISOString() ?? null,
    created_at: user.createdAt.toISOString(),
  };
}

export type ParticipantData = ReturnType<typeof participantData>;
