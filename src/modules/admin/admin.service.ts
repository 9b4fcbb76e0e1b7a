import { DAY_MS, type Clock } from '../../clock.js';
import { fillDays, lastDays } from '../../http/charts.js';
import type { Database } from '../../db/database.js';
import type { User } from '../../db/schema.js';
import { uniqueViolation } from '../../db/errors.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import type { OutboxRepository } from '../mail/outbox.repository.js';
import type { ReferralLifecycle } from '../referral/lifecycle.service.js';
import { periodFrom, type Leaderboard } from '../referral/leaderboard.js';
import type { RewardsRepository, TierInput } from '../rewards/rewards.repository.js';
import type { RewardsService } from '../rewards/rewards.service.js';
import type { AdminRepository } from './admin.repository.js';
import { auditInTx } from '../audit/audit.repository.js';
import { viralCoefficient, type FunnelWindow, type GrowthRepository } from './growth.js';

/** Who decides: an admin, or a program through an integration API key (no user id). */
export interface Actor {
  id: number | null;
  apiKeyId?: number;
}

export interface AdminServiceDeps {
  database: Database;
  leaderboard: Leaderboard;
  repo: AdminRepository;
  rewardsRepo: RewardsRepository;
  rewards: RewardsService;
  lifecycle: ReferralLifecycle;
  outbox: OutboxRepository;
  clock: Clock;
  growth: GrowthRepository;
}

/**
 * Admin actions. Each one is a single transaction that also writes its audit row, so
 * the log can never miss an action or record one that did not happen.
 */
export function createAdminService(deps: AdminServiceDeps) {
  const { database, repo, clock } = deps;

  async function analytics(window: FunnelWindow = '30d') {
    const now = clock.now();
    const days = lastDays(now, 30);
    const daily = await repo.daily(new Date(`${days[0]}T00:00:00Z`));
    const totals = await repo.totals();
    // The same 30 days as the daily chart: the funnel starts on its first day.
    const funnel = await deps.growth.funnel(window === 'all' ? null : Date.parse(`${days[0]}T00:00:00Z`) / DAY_MS);
    const credited30 = daily.credited.reduce((sum, d) => sum + d.n, 0);
    return {
      growth: {
        window,
        funnel,
        viral: {
          participants: totals.users,
          credited: totals.credited,
          credited30,
          all: viralCoefficient(totals.credited, totals.users),
          days30: viralCoefficient(credited30, totals.users),
        },
      },
      totals,
      conversion: totals.clicks > 0 ? Math.min(1, totals.credited / totals.clicks) : null,
      days,
      signups: fillDays(days, daily.signups),
      referrals: fillDays(days, daily.credited),
      top: await repo.topReferrers(10),
      held: totals.held,
      mail: await deps.outbox.counts(),
    };
  }

  async function requireUser(id: number): Promise<User> {
    const user = await repo.userById(id);
    if (!user) throw notFound('No such user.');
    return user;
  }

  async function setStatus(actor: User, id: number, status: User['status']): Promise<User> {
    const target = await requireUser(id);
    if (target.id === actor.id && status === 'disabled') throw badRequest('You cannot disable your own account.');
    await database.transaction(async (tx) => {
      if (await repo.setStatusInTx(tx, id, status)) {
        await auditInTx(tx, {
          actorId: actor.id,
          action: status === 'disabled' ? 'user.disable' : 'user.enable',
          targetType: 'user',
          targetId: id,
          now: clock.now(),
        });
      }
    });
    return target;
  }

  /** An admin corrects a name or address (audited with both versions); a taken address is a 400 on the field. */
  async function editProfile(actor: User, id: number, profile: { name: string; email: string }): Promise<User> {
    const target = await requireUser(id);
    if (target.deletedAt) throw badRequest('A deleted account cannot be edited.', 'name', 'deleted');
    try {
      await database.transaction(async (tx) => {
        await repo.setProfileInTx(tx, target, profile);
        await auditInTx(tx, {
          actorId: actor.id,
          action: 'user.edit',
          targetType: 'user',
          targetId: id,
          details: { before: { name: target.name, email: target.email }, after: profile },
          now: clock.now(),
        });
      });
    } catch (err) {
      if (uniqueViolation(err) === 'users.email_normalized') throw badRequest('Another account uses this email address.', 'email', 'email_in_use');
      throw err;
    }
    return target;
  }

  async function revokeReferral(actor: User, referralId: number) {
    if (!(await repo.referralById(referralId))) throw notFound('No such referral.');
    const now = clock.now();
    return database.transaction(async (tx) => {
      const { referral, rewardsWithdrawn, friendRewardWithdrawn } = await deps.lifecycle.revokeInTx(tx, referralId, now);
      await auditInTx(tx, {
        actorId: actor.id,
        action: 'referral.revoke',
        targetType: 'referral',
        targetId: referral.id,
        details: { referrerId: referral.referrerId, referredUserId: referral.referredUserId, rewardsWithdrawn, friendRewardWithdrawn },
        now,
      });
      return referral;
    });
  }

  /**
   * Approves or rejects held referrals, each in its own transaction with its audit row,
   * so one that was decided meanwhile (another admin, a double click) neither blocks nor
   * undoes the others. Approving credits exactly once; rejecting changes no count.
   */
  async function review(actor: Actor, action: 'approve' | 'reject', ids: readonly number[]) {
    const done: number[] = [];
    const skipped: { id: number; reason: string }[] = [];
    for (const id of ids) {
      if (!(await repo.referralById(id))) {
        skipped.push({ id, reason: 'No such referral.' });
        continue;
      }
      const now = clock.now();
      try {
        await database.transaction(async (tx) => {
          const referral = action === 'approve' ? await deps.lifecycle.approveInTx(tx, id, now) : await deps.lifecycle.rejectInTx(tx, id, now);
          await auditInTx(tx, {
            actorId: actor.id,
            action: `referral.${action}`,
            targetType: 'referral',
            targetId: id,
            details: { referrerId: referral.referrerId, referredUserId: referral.referredUserId, reasons: referral.fraudReasons, apiKeyId: actor.apiKeyId },
            now,
          });
        });
        done.push(id);
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 409) throw err;
        skipped.push({ id, reason: err.message });
      }
    }
    return { done, skipped };
  }

  /** One referral from its own button: 404 for an unknown id, 409 if it is not held. */
  async function reviewOne(actor: Actor, action: 'approve' | 'reject', id: number): Promise<void> {
    const { done, skipped } = await review(actor, action, [id]);
    const problem = skipped[0];
    if (done.length === 0 && problem) {
      throw problem.reason === 'No such referral.' ? notFound(problem.reason) : new AppError(409, problem.reason, { code: 'not_held' });
    }
  }

  /** The two kinds of reward an admin hands out: a referrer's tier reward and a referred friend's. */
  const FULFILLABLE = {
    tier: {
      fulfillInTx: deps.rewardsRepo.fulfillInTx,
      existsInTx: deps.rewardsRepo.rewardExistsInTx,
      action: 'reward.fulfill',
      targetType: 'user_reward',
      missing: 'No such reward.',
      notWaiting: 'This reward is not waiting to be fulfilled.',
    },
    friend: {
      fulfillInTx: deps.rewardsRepo.fulfillFriendInTx,
      existsInTx: deps.rewardsRepo.friendRewardExistsInTx,
      action: 'friend_reward.fulfill',
      targetType: 'friend_reward',
      missing: 'No such friend reward.',
      notWaiting: 'This friend reward is not waiting to be fulfilled.',
    },
  } as const;

  /**
   * A reward handed out, once: a second click, or a reward withdrawn meanwhile, is a 409
   * that changes nothing and audits nothing; an id that names no reward is a 404. The
   * audit row is written in the same transaction.
   */
  async function fulfill(actor: User, kind: keyof typeof FULFILLABLE, id: number): Promise<{ userId: number }> {
    const of = FULFILLABLE[kind];
    return database.transaction(async (tx) => {
      const now = clock.now();
      const done = await of.fulfillInTx(tx, id, now);
      if (!done) {
        if (!(await of.existsInTx(tx, id))) throw notFound(of.missing);
        throw new AppError(409, of.notWaiting, { code: 'not_awarded' });
      }
      await auditInTx(tx, { actorId: actor.id, action: of.action, targetType: of.targetType, targetId: id, details: { userId: done.userId }, now });
      return done;
    });
  }

  async function createTier(actor: User, input: TierInput) {
    return database.transaction(async (tx) => {
      const tier = await deps.rewards.createTierInTx(tx, input);
      await auditInTx(tx, { actorId: actor.id, action: 'tier.create', targetType: 'reward_tier', targetId: tier.id, details: { ...input }, now: clock.now() });
      return tier;
    });
  }

  async function updateTier(actor: User, id: number, input: TierInput) {
    return database.transaction(async (tx) => {
      const tier = await deps.rewards.updateTierInTx(tx, id, input);
      await auditInTx(tx, { actorId: actor.id, action: 'tier.update', targetType: 'reward_tier', targetId: id, details: { ...input }, now: clock.now() });
      return tier;
    });
  }

  /** One person's page: the account, who referred them, the people they referred, their rewards. */
  /**
   * The first `max` rows of a ranking (all time or one month) with each person's real name
   * and address: what an organiser needs to hand out a contest's prizes. Read page by page
   * along the leaderboard's own seek cursors, so it costs what browsing it would.
   */
  async function leaderboardRows(periodText: string, max: number) {
    const period = periodFrom(periodText, clock.now());
    const rows: { id: number; rank: number; referrals: number }[] = [];
    let page = await deps.leaderboard.getPage(1, undefined, period);
    for (;;) {
      page.entries.forEach((e, i) => rows.push({ id: page.keys[i]!.id, rank: e.rank, referrals: e.referrals }));
      if (rows.length >= max || !page.nextCursor) break;
      page = await deps.leaderboard.getPage(page.page + 1, page.nextCursor, period);
    }
    const people = new Map((await repo.usersByIds(rows.map((r) => r.id))).map((u) => [u.id, u]));
    return rows.slice(0, max).map((r) => ({ ...r, name: people.get(r.id)?.name ?? '', email: people.get(r.id)?.email ?? '' }));
  }

  async function userPage(id: number) {
    const user = await requireUser(id);
    const [referrer, detail, rewards, friendReward] = await Promise.all([
      user.referredById ? repo.userById(user.referredById) : undefined,
      repo.userDetail(user.id),
      deps.rewardsRepo.rewardsOf(user.id),
      deps.rewardsRepo.friendRewardOf(user.id),
    ]);
    return { user, referrer: referrer ? { id: referrer.id, name: referrer.name } : null, detail, rewards, friendReward: friendReward ?? null };
  }

  // Reads the admin pages list as they are: the service is still the one door.
  return {
    analytics,
    requireUser,
    userPage,
    searchUsers: repo.searchUsers,
    listReferrals: repo.listReferrals,
    heldReferrals: repo.heldReferrals,
    auditPage: repo.auditPage,
    usersAfter: repo.usersAfter,
    referralsAfter: repo.referralsAfter,
    listTiers: deps.rewardsRepo.listTiers,
    tierById: deps.rewardsRepo.tierById,
    friendRewardsPage: (...page: Parameters<RewardsService['friendRewardsPage']>) => deps.rewards.friendRewardsPage(...page),
    setStatus,
    editProfile,
    leaderboardRows,
    revokeReferral,
    review,
    reviewOne,
    fulfill,
    createTier,
    updateTier,
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
