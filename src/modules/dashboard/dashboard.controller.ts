import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import { z } from 'zod';
import { barChart } from '../../http/charts.js';
import { setFlash } from '../../http/flash.js';
import { channelLink, qrSvg, shareLinks } from './sharing.js';
import { parseInput, type FieldErrors } from '../../http/validate.js';
import type { AuthService } from '../auth/auth.service.js';
import type { RewardsService } from '../rewards/rewards.service.js';
import type { ReferralService } from '../referral/referral.service.js';
import type { SettingsService } from '../settings/settings.service.js';
import type { User } from '../../db/schema.js';

/**
 * How a referrer sees each friend's referral. A held one reads "under review" without its
 * reasons: the fraud screen's signals are for admins.
 */
const REFERRAL_STATUS_TEXT = {
  pending: 'Waiting for them to confirm their email',
  held: 'Under review',
  credited: 'Counted',
  rejected: 'Not counted',
  revoked: 'Not counted',
} as const;

/** An unchecked checkbox sends nothing; a checked one sends "on". */
const SettingsSchema = z.object({ notify_referrals: z.literal('on', { error: 'Invalid setting.' }).optional() });

export function createDashboardController(deps: {
  config: Config;
  referrals: ReferralService;
  auth: AuthService;
  rewards: RewardsService;
  /** The program settings, for the friend offer. */
  settings: Pick<SettingsService, 'current'>;
}) {
  const { config, referrals } = deps;

  const linkOf = (code: string) => `${config.baseUrl}/r/${code}`;

  /**
   * The friend offer, once the person's own referral counts, and what became of it: their
   * friend reward holds the offer as it read when they were credited, whatever the setting
   * says now, and whether it is on its way or handed out; a withdrawn one (their referral
   * was revoked) shows nothing. Someone credited before friend rewards existed has no row
   * and sees the current offer, as before. No lookups for a person nobody referred.
   */
  async function friendOfferOf(
    user: User,
  ): Promise<{ inviter: string | null; offer: string; status: 'awarded' | 'fulfilled' | null; fulfilledAt: Date | null } | null> {
    if (user.referredById === null) return null;
    const reward = await deps.rewards.friendRewardOf(user.id);
    if (reward) {
      if (reward.status === 'withdrawn') return null;
      // A fulfilled reward stays shown after a revocation: it was handed out.
      const credited = await referrals.creditedReferralOf(user);
      return { inviter: credited?.inviter ?? null, offer: reward.offer, status: reward.status, fulfilledAt: reward.fulfilledAt };
    }
    const offer = (await deps.settings.current()).friendOffer;
    if (!offer) return null;
    const credited = await referrals.creditedReferralOf(user);
    return credited ? { inviter: credited.inviter, offer, status: null, fulfilledAt: null } : null;
  }

  async function renderDashboard(req: Request, res: Response, status = 200, errors: FieldErrors = {}, values: Record<string, string> = {}) {
    const user = req.user!;
    const [stats, progress, friendOffer] = await Promise.all([referrals.dashboardStats(user), deps.rewards.progressOf(user), friendOfferOf(user)]);
    const link = linkOf(user.referralCode);
    res.status(status).render('dashboard/index.njk', {
      title: 'Your dashboard',
      user: { name: user.name, referralCode: user.referralCode, referralsCount: user.referralsCount },
      // The link as people copy it from the page: its clicks count as the 'copy' channel.
      link: channelLink(link, 'copy'),
      shareLinks: shareLinks(link),
      qr: await qrSvg(link),
      chart: barChart(stats.days, [{ name: 'referrals', className: 'bar-a', values: stats.daily }]),
      stats,
      referralStatusText: REFERRAL_STATUS_TEXT,
      canApply: referrals.canApply(user),
      notifyReferrals: user.notifyReferrals,
      progress,
      friendOffer,
      errors,
      values,
    });
  }

  const getDashboard: RequestHandler = (req, res) => renderDashboard(req, res);

  /** The QR code as a file, for print or a slide. */
  const getQr: RequestHandler = async (req, res) => {
    res.setHeader('Content-Type', 'image/svg+xml; charset=utf-8');
    res.setHeader('Content-Disposition', 'attachment; filename="referral-qr.svg"');
    res.send(await qrSvg(linkOf(req.user!.referralCode)));
  };

  const postSettings: RequestHandler = async (req, res) => {
    const parsed = parseInput(SettingsSchema, req.body);
    if (!parsed.ok) return renderDashboard(req, res, 400, { notify_referrals: Object.values(parsed.errors)[0] ?? 'Invalid setting.' });
    await deps.auth.setNotifyReferrals(req.user!.id, parsed.data.notify_referrals === 'on');
    setFlash(res, 'success', parsed.data.notify_referrals === 'on' ? 'You will get an email for each new referral.' : 'Referral emails are off.');
    res.redirect(303, '/dashboard');
  };

  return { getDashboard, getQr, postSettings, renderDashboard };
}
