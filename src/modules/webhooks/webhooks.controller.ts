import type { Request, RequestHandler, Response } from 'express';
import { WEBHOOK_EVENTS } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { setFlash } from '../../http/flash.js';
import { formValues, parseInput, type FieldErrors } from '../../http/validate.js';
import { DeliveryParamsSchema, EndpointParamsSchema, EndpointSchema, MAX_URL_LENGTH } from './webhooks.schemas.js';
import type { WebhooksService } from './webhooks.service.js';

/** A malformed or unknown id is simply "not found". */
function endpointIdOf(req: Request): number {
  const parsed = parseInput(EndpointParamsSchema, req.params);
  if (!parsed.ok) throw notFound();
  return parsed.data.id;
}

function deliveryParamsOf(req: Request): { id: number; deliveryId: number } {
  const parsed = parseInput(DeliveryParamsSchema, req.params);
  if (!parsed.ok) throw notFound();
  return parsed.data;
}

/** The boxes that were ticked, to tick them again when the form comes back with errors. */
function tickedEvents(body: unknown): string[] {
  const raw: unknown = body && typeof body === 'object' ? (body as Record<string, unknown>).events : undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  return WEBHOOK_EVENTS.filter((e) => list.includes(e));
}

export function createWebhooksController(deps: { service: WebhooksService }) {
  const { service } = deps;

  const renderIndex = async (res: Response, status = 200, form: { values?: Record<string, string>; events?: string[]; errors?: FieldErrors } = {}) =>
    res.status(status).render('webhooks/index.njk', {
      title: 'Webhooks',
      section: 'webhooks',
      endpoints: await service.listEndpoints(),
      allEvents: WEBHOOK_EVENTS,
      maxUrlLength: MAX_URL_LENGTH,
      values: form.values ?? {},
      checked: form.events ?? [],
      errors: form.errors ?? {},
    });

  const getIndex: RequestHandler = (_req, res) => renderIndex(res);

  /** Bad input, or a target the guard refuses, re-renders the form with 400. */
  const postCreate: RequestHandler = async (req, res) => {
    const form = { values: formValues(req.body, ['url']), events: tickedEvents(req.body) };
    const parsed = parseInput(EndpointSchema, req.body);
    if (!parsed.ok) return renderIndex(res, 400, { ...form, errors: parsed.errors });
    try {
      const endpoint = await service.createEndpoint(req.user!, parsed.data);
      setFlash(res, 'success', 'Endpoint added. Give its signing secret to the receiver so it can verify each delivery.');
      res.redirect(303, `/admin/webhooks/${endpoint.id}`);
    } catch (err) {
      if (err instanceof AppError && err.status === 400) return renderIndex(res, 400, { ...form, errors: { [err.field ?? 'form']: err.message } });
      throw err;
    }
  };

  const getEndpoint: RequestHandler = async (req, res) => {
    const page = await service.endpointPage(endpointIdOf(req));
    res.render('webhooks/endpoint.njk', { title: `Webhook ${page.endpoint.url}`, section: 'webhooks', ...page, allEvents: WEBHOOK_EVENTS });
  };

  const postRotate: RequestHandler = async (req, res) => {
    const id = endpointIdOf(req);
    await service.rotateSecret(req.user!, id);
    setFlash(res, 'success', 'New signing secret created. The previous one goes on signing deliveries for 24 hours.');
    res.redirect(303, `/admin/webhooks/${id}`);
  };

  const statusAction =
    (status: 'active' | 'disabled'): RequestHandler =>
    async (req, res) => {
      const id = endpointIdOf(req);
      await service.setStatus(req.user!, id, status);
      setFlash(
        res,
        'success',
        status === 'disabled' ? 'Endpoint disabled: it receives nothing until enabled again.' : 'Endpoint enabled: new events go to it again.',
      );
      res.redirect(303, `/admin/webhooks/${id}`);
    };

  const postDelete: RequestHandler = async (req, res) => {
    const endpoint = await service.deleteEndpoint(req.user!, endpointIdOf(req));
    setFlash(res, 'success', `Endpoint ${endpoint.url} deleted, with its delivery log.`);
    res.redirect(303, '/admin/webhooks');
  };

  const postResend: RequestHandler = async (req, res) => {
    const { id, deliveryId } = deliveryParamsOf(req);
    await service.resend(req.user!, id, deliveryId);
    setFlash(res, 'success', 'Delivery queued again, with the same webhook-id.');
    res.redirect(303, `/admin/webhooks/${id}`);
  };

  return {
    getIndex,
    postCreate,
    getEndpoint,
    postRotate,
    postEnable: statusAction('active'),
    postDisable: statusAction('disabled'),
    postDelete,
    postResend,
  };
}

export type WebhooksController = ReturnType<typeof createWebhooksController>;
