import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { ApiKey } from '../../db/schema.js';
import { AppError, badRequest, forbidden } from '../../errors.js';
import type { MeteredLimiter, Quota } from '../../http/rate-limit.js';
import { parseInput } from '../../http/validate.js';
import type { ApiKeyService } from './api-keys.service.js';
import type { Operation } from './api.operations.js';
import type { Idempotency } from './idempotency.service.js';

const POLICY = 'per-key';
/** Printable ASCII without spaces, as the header draft's examples use; 255 at most. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface IntegrationRouteDeps {
  operations: Operation[];
  keys: ApiKeyService;
  limiter: MeteredLimiter;
  idempotency: Idempotency;
  /** The OpenAPI document and its readable page: public, no key needed. */
  getOpenApi: RequestHandler;
  getReference: RequestHandler;
}

const unauthorizedKey = (res: Response, message: string, error?: 'invalid_token') => {
  res.setHeader('WWW-Authenticate', error ? `Bearer realm="api", error="${error}"` : 'Bearer realm="api"');
  return new AppError(401, message, { code: error ?? 'missing_key' });
};

/** IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): the policy, and where this key stands. */
function setQuotaHeaders(res: Response, quota: Quota): void {
  res.setHeader('RateLimit-Policy', `"${POLICY}";q=${quota.limit};w=${quota.windowSec}`);
  res.setHeader('RateLimit', `"${POLICY}";r=${quota.remaining};t=${quota.resetSec}`);
}

const keyOf = (res: Response) => res.locals.apiKey as ApiKey;

/**
 * /api/v1: one flow for every route. Bearer key → per-key rate limit → scope →
 * Idempotency-Key (POST) → zod validation → the operation → JSON. Errors become
 * problem+json in the app's one error handler. No session, no cookies, no CSRF: a bearer
 * key is not sent by browsers on their own.
 */
export function integrationRoutes(deps: IntegrationRouteDeps): Router {
  const router = Router();
  router.use(express.json({ limit: '100kb', strict: true }));
  router.get('/openapi.json', deps.getOpenApi);
  router.get('/docs', deps.getReference);

  const authenticate: RequestHandler = async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) throw unauthorizedKey(res, 'Send your API key as `Authorization: Bearer rk_…`.');
    const match = /^Bearer +(\S+) *$/i.exec(header);
    const key = match ? await deps.keys.authenticate(match[1]!) : undefined;
    if (!key) throw unauthorizedKey(res, 'This API key is not valid or has been revoked.', 'invalid_token');
    res.locals.apiKey = key;
    const quota = await deps.limiter.take(String(key.id));
    setQuotaHeaders(res, quota);
    if (!quota.allowed)
      throw new AppError(429, `This key has used its ${quota.limit} requests for this minute.`, { code: 'rate_limited', retryAfterSec: quota.resetSec });
    next();
  };

  const serve = (operation: Operation): RequestHandler => {
    return async (req: Request, res: Response, next: NextFunction) => {
      if (operation.scope === 'write' && keyOf(res).scope !== 'write') throw forbidden('This key can only read. Use a key with the write scope.');
      if (req.method === 'POST' && (req.get('content-length') ?? '0') !== '0' && !req.is('application/json')) {
        throw new AppError(415, 'Send the body as application/json.', { code: 'unsupported_media_type' });
      }
      const input = {
        params: parse(operation.params, req.params),
        query: parse(operation.query, req.query),
        body: parse(operation.body, req.body ?? {}),
        apiKey: keyOf(res),
      } as Parameters<Operation['handle']>[0];

      const idemKey = req.method === 'POST' ? req.get('idempotency-key') : undefined;
      if (idemKey === undefined) return send(res, await operation.handle(input));
      if (!IDEMPOTENCY_KEY.test(idemKey)) throw badRequest('Idempotency-Key is 1 to 255 visible ASCII characters.', 'Idempotency-Key', 'bad_idempotency_key');
      const claim = await deps.idempotency.claim(keyOf(res).id, idemKey, { method: req.method, path: req.path, body: req.body });
      if (claim.kind === 'replay') {
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(claim.statusCode).type('application/json').send(claim.body);
        return;
      }
      if (claim.kind === 'running')
        throw new AppError(409, 'A request with this Idempotency-Key is still being processed.', { code: 'idempotency_in_progress' });
      if (claim.kind === 'mismatch') {
        throw new AppError(422, 'This Idempotency-Key was used with a different request.', { code: 'idempotency_key_reused' });
      }
      let result: { status: number; body?: unknown };
      try {
        result = await operation.handle(input);
      } catch (err) {
        // Only a success is replayed: after an error nothing changed, and a retry may run.
        await deps.idempotency.release(claim.id);
        return next(err);
      }
      await deps.idempotency.finish(claim.id, result.status, result.body === undefined ? '' : JSON.stringify(result.body));
      send(res, result);
    };
  };

  for (const operation of deps.operations) {
    const path = operation.path.replace(/\{(\w+)\}/g, ':$1');
    router[operation.method](path, authenticate, serve(operation));
  }
  // A known path with another method: 405 with the methods it has.
  const methodsByPath = new Map<string, string[]>();
  for (const o of deps.operations) methodsByPath.set(o.path, [...(methodsByPath.get(o.path) ?? []), o.method.toUpperCase()]);
  for (const [path, methods] of methodsByPath) {
    router.all(path.replace(/\{(\w+)\}/g, ':$1'), (_req, res) => {
      res.setHeader('Allow', methods.join(', '));
      throw new AppError(405, `This route answers ${methods.join(', ')}.`, { code: 'method_not_allowed' });
    });
  }
  return router;
}

/** /admin/api-keys, behind requireAdmin, sessions and CSRF like every admin page. */
export function apiKeyAdminRoutes(c: { getKeys: RequestHandler; postKey: RequestHandler; postRevoke: RequestHandler }): Router {
  const router = Router();
  router.get('/', c.getKeys);
  router.post('/', c.postKey);
  router.post('/:id/revoke', c.postRevoke);
  return router;
}

function parse(schema: Operation['params'], input: unknown): unknown {
  if (!schema) return {};
  const parsed = parseInput(schema, input);
  if (!parsed.ok) throw new AppError(400, Object.values(parsed.errors)[0] ?? 'Invalid request.', { code: 'invalid_request', fields: parsed.errors });
  return parsed.data;
}

function send(res: Response, result: { status: number; body?: unknown }): void {
  if (result.body === undefined) res.status(result.status).end();
  else res.status(result.status).json(result.body);
}
