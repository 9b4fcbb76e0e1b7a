import type { Db } from '../../src/db/client.js';
import { countOf, onPostgres, query } from '../helpers/db.js';

/**
 * The invariants a crash must never break, each as a count of rows that break it (all
 * must be zero), on either engine. Used after kill -9 and after restarts under load.
 */
export async function brokenInvariants(db: Db): Promise<Record<string, number>> {
  const checks: Record<string, string> = {
    // A user's count is exactly their credited referral rows.
    countsDifferFromRows: `select count(*) from users u
      where u.referrals_count <> (select count(*) from referrals r where r.referrer_id = u.id and r.status = 'credited')`,
    // score_counts holds, per count, exactly the ranked users who have it.
    scoreCountsDiffer: `select count(*) from (
        select score, users from score_counts where users <> 0
        except
        select referrals_count, count(*) from users where status = 'active' and referrals_count > 0 group by referrals_count
      ) d`,
    scoreCountsMissing: `select count(*) from (
        select referrals_count, count(*) from users where status = 'active' and referrals_count > 0 group by referrals_count
        except
        select score, users from score_counts where users <> 0
      ) d`,
    // The per-day chart counts are the credited rows per day.
    referralDaysDiffer: `select count(*) from (
        select referrer_id, day, credited from referral_days where credited <> 0
        except
        select referrer_id, credited_at / 86400000, count(*) from referrals where status = 'credited' group by referrer_id, credited_at / 86400000
      ) d`,
    // A referred user has their referral row, and a referral row its two users.
    referredWithoutRow: `select count(*) from users u
      where u.referred_by_id is not null and not exists (select 1 from referrals r where r.referred_user_id = u.id)`,
    orphanReferrals: `select count(*) from referrals r
      where not exists (select 1 from users u where u.id = r.referred_user_id) or not exists (select 1 from users u where u.id = r.referrer_id)`,
    // Every account that was committed has its welcome email queued with it.
    usersWithoutWelcome: `select count(*) from users u where not exists (select 1 from email_outbox o where o.to_address = u.email)`,
    // Rewards follow counts: no tier held above the count.
    rewardsAboveCount: `select count(*) from user_rewards ur join reward_tiers t on t.id = ur.tier_id join users u on u.id = ur.user_id
      where t.threshold > u.referrals_count and ur.status = 'awarded'`,
  };
  const broken: Record<string, number> = {};
  for (const [name, sql] of Object.entries(checks)) broken[name] = await countOf(db, sql);
  if (!onPostgres) {
    const [row] = await query<{ integrity_check: string }>(db, 'pragma integrity_check');
    broken.integrityCheck = row?.integrity_check === 'ok' ? 0 : 1;
  }
  return broken;
}

/** What brokenInvariants returns when all is well: every check at zero. */
export function allZero(broken: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(broken).map((k) => [k, 0]));
}
