import { Router } from 'express';
import { requireAnonymous, requireUser } from '../users/users.middleware.js';
import type { createAuthController } from './auth.controller.js';

export function authRoutes(c: ReturnType<typeof createAuthController>): Router {
  const router = Router();
  router.get('/signup', requireAnonymous, c.getSignup);
  router.post('/signup', requireAnonymous, c.postSignup);
  router.get('/signup/success', requireUser, c.getSignupSuccess);
  router.get('/login', requireAnonymous, c.getLogin);
  router.post('/login', requireAnonymous, c.postLogin);
  router.post('/logout', c.postLogout);
  // Confirmation links carry a secret too: no Referer to other sites.
  router.use('/verify', (_req, res, next) => {
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  router.get('/verify/:token', c.getVerify);
  router.post('/verify/resend', requireUser, c.postVerifyResend);
  router.use('/link', (_req, res, next) => {
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  router.get('/link/:token', c.getLoginLink);
  router.get('/forgot', c.getForgot);
  router.post('/forgot', c.postForgot);
  // A reset link must not leak to other sites through the Referer header.
  router.use('/reset', (_req, res, next) => {
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  router.get('/reset/:token', c.getReset);
  router.post('/reset/:token', c.postReset);
  return router;
}
