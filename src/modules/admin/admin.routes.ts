import { Router } from 'express';
import { requireAdmin } from '../users/users.middleware.js';
import type { createAdminController } from './admin.controller.js';

/** Every /admin route: admins only (403 for users, login for anonymous); POSTs carry CSRF like all others. */
export function adminRoutes(c: ReturnType<typeof createAdminController>): Router {
  const router = Router();
  router.use(requireAdmin);
  router.get('/', c.getIndex);
  router.get('/users', c.getUsers);
  router.get('/users/:id', c.getUser);
  router.post('/users/:id/profile', c.postProfile);
  router.post('/users/:id/disable', c.postDisable);
  router.post('/users/:id/enable', c.postEnable);
  router.get('/referrals', c.getReferrals);
  router.post('/referrals/:id/revoke', c.postRevoke);
  router.post('/referrals/:id/approve', c.postApprove);
  router.post('/referrals/:id/reject', c.postReject);
  router.get('/review', c.getReview);
  router.post('/review', c.postReview);
  router.post('/user-rewards/:id/fulfill', c.postFulfill);
  router.post('/friend-rewards/:id/fulfill', c.postFulfillFriend);
  router.get('/rewards', c.getRewards);
  router.post('/rewards', c.postCreateTier);
  router.post('/rewards/:id', c.postUpdateTier);
  router.get('/audit', c.getAudit);
  router.get('/export/users.csv', c.exportUsers);
  router.get('/export/referrals.csv', c.exportReferrals);
  router.get('/export/leaderboard.csv', c.exportLeaderboard);
  return router;
}
