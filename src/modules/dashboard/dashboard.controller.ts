import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import type { FieldErrors } from '../../http/validate.js';
import type { ReferralService } from '../referral/referral.service.js';

export function createDashboardController(deps: { config: Config; referrals: ReferralService }) {
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
      errors,
      values,
    });
  }

  const getDashboard: RequestHandler = (req, res) => renderDashboard(req, res);
  return { getDashboard, renderDashboard };
}
