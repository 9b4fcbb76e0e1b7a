import { Router } from 'express';
import type { WebhooksController } from './webhooks.controller.js';

/** /admin/webhooks: the app mounts it behind requireAdmin, after body parsing, sessions and CSRF. */
export function webhooksRoutes(c: WebhooksController): Router {
  const router = Router();
  router.get('/', c.getIndex);
  router.post('/', c.postCreate);
  router.get('/:id', c.getEndpoint);
  router.post('/:id/rotate', c.postRotate);
  router.post('/:id/enable', c.postEnable);
  router.post('/:id/disable', c.postDisable);
  router.post('/:id/delete', c.postDelete);
  router.post('/:id/deliveries/:deliveryId/resend', c.postResend);
  return router;
}
