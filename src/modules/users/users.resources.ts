import type { LeaderboardDisplay, User } from '../../db/schema.js';

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

export const ANONYMOUS_NAME = 'Anonymous referrer';

/**
 * How the public leaderboard shows a person, as they chose: "Ada Lovelace", "Ada L." (the
 * first word and the initial of the last) or "Anonymous referrer". A one-word name has no
 * initials to shorten to and is shown as it is.
 */
export function publicName(name: string, display: LeaderboardDisplay): string {
  if (display === 'anonymous') return ANONYMOUS_NAME;
  if (display === 'name') return name;
  const words = name.split(' ').filter(Boolean);
  if (words.length < 2) return name;
  const initial = Array.from(words.at(-1)!)[0]!.toLocaleUpperCase();
  return `${words[0]} ${initial}.`;
}
