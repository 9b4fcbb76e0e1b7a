import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import { z } from 'zod';
import { setFlash } from '../../http/flash.js';
import { parseInput, type FieldErrors } from '../../http/validate.js';
import type { UserRepository } from '../auth/auth.repository.js';
import type { RewardsService } from '../rewards/rewards.service.js';
import type { ReferralService } from '../referral/referral.service.js';

/** An unchecked checkbox sends nothing; a checked one sends "on". */
const SettingsSchema = z.object({ notify_referrals: z.literal('on', { error: 'Invalid setting.' }).optional() });

export function createDashboardController(deps: { config: Config; referrals: ReferralService; users: UserRepository; rewards: RewardsService }) {
  const { config, referrals } = deps;

  function renderDashboard(req: Request, res: Response, status = 200, errors: FieldErrors = {}, values: Record<string, string> = {}) {
    const user = req.user!;
    const stats = referrals.dashboardStats(user);
    res.status(status).render('dashboard/index.njk', {
      title: 'Your dashboard',
      user: { name: user.name, referralCode: user.referralCode, referralsCount: user.referralsCount },
      link: `${config.baseUrl}/r/${user.referralCode}`,
      stats,
      canApply: referrals.canApply(user),
      notifyReferrals: user.notifyReferrals,
      progress: deps.rewards.progressOf(user),
      errors,
      values,
    });
  }

  const getDashboard: RequestHandler = (req, res) => renderDashboard(req, res);

  const postSettings: RequestHandler = (req, res) => {
    const parsed = parseInput(SettingsSchema, req.body);
    if (!parsed.ok) return renderDashboard(req, res, 400, { notify_referrals: Object.values(parsed.errors)[0] ?? 'Invalid setting.' });
    deps.users.setNotifyReferrals(req.user!.id, parsed.data.notify_referrals === 'on');
    setFlash(res, 'success', parsed.data.notify_referrals === 'on' ? 'You will get an email for each new referral.' : 'Referral emails are off.');
    res.redirect(303, '/dashboard');
  };

  return { getDashboard, postSettings, renderDashboard };
}
