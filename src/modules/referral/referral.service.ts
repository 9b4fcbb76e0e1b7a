import type { Attribution } from './channels.js';
import crypto from 'node:crypto';
import type { Clock } from '../../clock.js';
import { fillDays, lastDays } from '../../http/charts.js';
import type { Database } from '../../db/database.js';
import type { Referral, User } from '../../db/schema.js';
import { AppError, badRequest } from '../../errors.js';
import type { UserRepository } from '../users/users.repository.js';
import { publicName } from '../users/users.resources.js';
import type { Leaderboard } from './leaderboard.js';
import { APPLY_WINDOW_MS, RECENT_REFERRED } from './referral.constants.js';
import { UNKNOWN_CODE } from './referral-code.js';
import { hashClient, type ClientContext, type SignalHasher } from './fraud.js';
import { claimReferrerInTx } from './lifecycle.repository.js';
import type { ReferralLifecycle } from './lifecycle.service.js';
import { REFERRER_INACTIVE, type ReferralRepository } from './referral.repository.js';

export const ALREADY_REFERRED = 'You already have a referrer. Each person can be referred only once.';
export const OWN_CODE = 'That is your own code. Share it with friends instead.';
export const WINDOW_CLOSED = 'Codes can only be applied within 30 days of signing up.';
export const CYCLE = 'You referred this person (directly or through others), so they cannot be your referrer.';

export interface ReferralServiceDeps {
  database: Database;
  users: UserRepository;
  referrals: ReferralRepository;
  leaderboard: Leaderboard;
  clock: Clock;
  /** Key for the click hashes, so stored hashes cannot be reversed by enumerating addresses. */
  hashKey: string;
  lifecycle: ReferralLifecycle;
  hash: SignalHasher;
}

export function createReferralService(deps: ReferralServiceDeps) {
  const { database, users, referrals, leaderboard, clock, lifecycle } = deps;
  const hash = (value: string) => crypto.createHmac('sha256', deps.hashKey).update(value).digest('base64url').slice(0, 22);

  /** Counts a click on someone's link; returns the canonical code, or null if there is none. */
  async function recordClick(
    code: string | null,
    client: { key: string; userAgent: string; viewerId?: number },
    attribution: Attribution,
  ): Promise<string | null> {
    const referrer = code ? await users.findByCode(code) : undefined;
    if (!referrer || referrer.status !== 'active') return null;
    // People checking their own link do not inflate their clicks.
    if (client.viewerId !== referrer.id) {
      const click = { referrerId: referrer.id, ipHash: hash(client.key), userAgentHash: hash(client.userAgent), at: clock.now(), attribution };
      await database.transaction((tx) => referrals.recordClickInTx(tx, click));
    }
    return referrer.referralCode;
  }

  /** Whether the dashboard should offer the apply-a-code form to this user. */
  function canApply(user: User): boolean {
    return user.referredById === null && clock.now().getTime() - user.createdAt.getTime() < APPLY_WINDOW_MS;
  }

  /**
   * Applies a code to a logged-in user. Every rule is checked here and a conditional
   * write settles races: own code, unknown or disabled referrer, an existing referrer,
   * the 30-day window, and cycles. The referral then starts its life like one made at
   * sign-up (pending until the person's email is confirmed, unless it already is).
   */
  async function applyCode(user: User, code: string, client: ClientContext = {}): Promise<{ referrerName: string; status: string }> {
    if (user.referredById !== null) throw new AppError(409, ALREADY_REFERRED, { code: 'already_referred', field: 'referral_code' });
    if (clock.now().getTime() - user.createdAt.getTime() >= APPLY_WINDOW_MS) {
      throw new AppError(403, WINDOW_CLOSED, { code: 'window_closed', field: 'referral_code' });
    }
    const referrer = await users.findByCode(code);
    if (!referrer) throw badRequest(UNKNOWN_CODE, 'referral_code', 'unknown_code');
    // Any of the person's own codes, former ones included.
    if (referrer.id === user.id) throw badRequest(OWN_CODE, 'referral_code', 'own_code');
    if (referrer.status !== 'active') throw badRequest(REFERRER_INACTIVE, 'referral_code', 'referrer_inactive');
    if (await referrals.isAncestor(user.id, referrer.id)) throw badRequest(CYCLE, 'referral_code', 'cycle');

    const hashes = hashClient(deps.hash, client);
    const now = clock.now();
    const referral = await database.transaction(async (tx) => {
      // The conditional update is the lock: of ten simultaneous applies by one user,
      // exactly one finds referred_by_id still null.
      if (!(await claimReferrerInTx(tx, user.id, referrer.id))) return null;
      return lifecycle.openInTx(tx, { referrerId: referrer.id, referred: user, source: 'applied', client: hashes, now });
    });
    if (!referral) throw new AppError(409, ALREADY_REFERRED, { code: 'already_referred', field: 'referral_code' });
    return { referrerName: referrer.name, status: referral.status };
  }

  /**
   * The host product reports the referred person's qualifying action. The first report
   * counts and sets `converted_at`; under CREDIT_ON=conversion it screens and settles their
   * pending referral in the same transaction. Any later report changes nothing.
   */
  async function recordConversion(user: User): Promise<{ convertedAt: Date; referral: Referral | null }> {
    const now = clock.now();
    await database.transaction(async (tx) => {
      if (await users.markConvertedInTx(tx, user.id, now)) await lifecycle.onConvertedInTx(tx, user.id, now);
    });
    const [fresh, referral] = await Promise.all([users.findById(user.id), referrals.ofReferred(user.id)]);
    return { convertedAt: fresh?.convertedAt ?? now, referral: referral ?? null };
  }

  /** Everything the dashboard shows about a user's referrals. */
  async function dashboardStats(user: User) {
    const days = lastDays(clock.now(), 30);
    const [clicks, referred, waiting, rank, daily] = await Promise.all([
      referrals.clicksFor(user.id),
      referrals.referredBy(user.id, RECENT_REFERRED),
      referrals.waitingFor(user.id),
      leaderboard.rankOf(user),
      referrals.dailyCredited(user.id, new Date(`${days[0]}T00:00:00Z`)),
    ]);
    return {
      recentLimit: RECENT_REFERRED,
      clicks,
      conversion: clicks > 0 ? Math.min(1, user.referralsCount / clicks) : null,
      referred,
      waiting,
      rank,
      days,
      daily: fillDays(days, daily),
    };
  }

  /** Who a link's code belongs to, as the leaderboard shows them; null for an unknown or inactive code. */
  async function inviterOf(code: string): Promise<string | null> {
    const referrer = await users.findByCode(code);
    return referrer?.status === 'active' ? publicName(referrer.name, referrer.leaderboardDisplay) : null;
  }

  /**
   * Whether this person's own referral is credited (null if not, or if they have none) and
   * who referred them, as the leaderboard shows them (null once that account is closed).
   */
  async function creditedReferralOf(user: User): Promise<{ inviter: string | null } | null> {
    if (user.referredById === null) return null;
    const referral = await referrals.ofReferred(user.id);
    if (referral?.status !== 'credited') return null;
    const referrer = await users.findById(referral.referrerId);
    return { inviter: referrer?.status === 'active' ? publicName(referrer.name, referrer.leaderboardDisplay) : null };
  }

  return { recordClick, canApply, applyCode, recordConversion, dashboardStats, inviterOf, creditedReferralOf };
}

export type ReferralService = ReturnType<typeof createReferralService>;
