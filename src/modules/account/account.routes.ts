import { Router } from 'express';
import { requireUser } from '../users/users.middleware.js';
import type { createAccountController } from './account.controller.js';

/** /account: the person's own settings (logged in), and the email-change link (not necessarily). */
export function accountRoutes(c: ReturnType<typeof createAccountController>): Router {
  const router = Router();
  // The link carries a secret: no Referer to other sites.
  router.use('/email/confirm', (_req, res, next) => {
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  router.get('/email/confirm/:token', c.getConfirmEmail);
  router.use(requireUser);
  router.get('/', c.getAccount);
  router.get('/export.json', c.getExport);
  router.post('/name', c.postName);
  router.post('/email', c.postEmail);
  router.post('/password', c.postPassword);
  router.post('/privacy', c.postPrivacy);
  router.post('/code', c.postCode);
  router.post('/delete', c.postDelete);
  return router;
}
