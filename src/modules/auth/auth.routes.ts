import { Router } from 'express';
import { requireAnonymous, requireUser } from './auth.middleware.js';
import type { createAuthController } from './auth.controller.js';

export function authRoutes(c: ReturnType<typeof createAuthController>): Router {
  const router = Router();
  router.get('/signup', requireAnonymous, c.getSignup);
  router.post('/signup', requireAnonymous, c.postSignup);
  router.get('/signup/success', requireUser, c.getSignupSuccess);
  router.get('/login', requireAnonymous, c.getLogin);
  router.post('/login', requireAnonymous, c.postLogin);
  router.post('/logout', c.postLogout);
  return router;
}
