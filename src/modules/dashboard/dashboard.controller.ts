import type { RequestHandler } from 'express';
import type { Config } from '../../config.js';

export function createDashboardController(deps: { config: Config }) {
  const getDashboard: RequestHandler = (req, res) => {
    const user = req.user!;
    res.render('dashboard/index.njk', {
      title: 'Your dashboard',
      user: { name: user.name, referralCode: user.referralCode, referralsCount: user.referralsCount },
      link: `${deps.config.baseUrl}/r/${user.referralCode}`,
    });
  };
  return { getDashboard };
}
