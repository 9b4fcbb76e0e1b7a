import { Router } from 'express';
import { requireAdmin } from '../users/users.middleware.js';
import type { createSettingsController } from './settings.controller.js';

/** /admin/settings: admins only (403 for users, login for anonymous); the POST carries CSRF like every form. */
export function settingsRoutes(c: ReturnType<typeof createSettingsController>): Router {
  const router = Router();
  router.use(requireAdmin);
  router.get('/', c.getSettings);
  router.post('/', c.postSettings);
  return router;
}
