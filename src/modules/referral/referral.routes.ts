import { Router } from 'express';
import { requireUser } from '../users/users.middleware.js';
import type { createReferralController } from './referral.controller.js';

type Controller = ReturnType<typeof createReferralController>;

export function referralRoutes(c: Controller): Router {
  const router = Router();
  router.post('/process_referral', requireUser, c.postProcessReferral);
  router.get('/leaderboard', c.getLeaderboard);
  return router;
}

export function referralLinkRoutes(c: Controller): Router {
  const router = Router();
  router.get('/r/:code', c.getClick);
  router.get('/api/leaderboard', c.getApiLeaderboard);
  return router;
}
