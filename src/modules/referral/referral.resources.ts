import type { Referral } from '../../db/schema.js';

/** A referral as the integration API and webhooks show it (the screen's hashes stay inside). */
export function referralData(r: Referral) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: r.id,
    referrer_id: r.referrerId,
    referred_id: r.referredUserId,
    status: r.status,
    source: r.source,
    channel: r.channel,
    utm: { source: r.utmSource, medium: r.utmMedium, campaign: r.utmCampaign },
    fraud_reasons: r.fraudReasons ? r.fraudReasons.split(',') : [],
    created_at: r.createdAt.toISOString(),
    screened_at: iso(r.screenedAt),
    credited_at: iso(r.creditedAt),
    rejected_at: iso(r.rejectedAt),
    revoked_at: iso(r.revokedAt),
  };
}

export type ReferralData = ReturnType<typeof referralData>;
