import type { RequestHandler } from 'express';
import { z } from 'zod';
import { API_SCOPES } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { setFlash } from '../../http/flash.js';
import { CONTROL_CHARS, formValues, parseInput } from '../../http/validate.js';
import { IdParamSchema } from '../admin/admin.schemas.js';
import type { ApiKeyService } from './api-keys.service.js';
import type { buildOpenApiDocument } from './api.openapi.js';

export const ApiKeySchema = z.object({
  name: z
    .string({ error: 'Name the key after what uses it.' })
    .max(1000, 'Use at most 80 characters.')
    .refine((v) => !CONTROL_CHARS.test(v), 'Names cannot contain line breaks or control characters.')
    .transform((v) => v.trim())
    .pipe(z.string().min(1, 'Name the key after what uses it.').max(80, 'Use at most 80 characters.')),
  scope: z.enum(API_SCOPES, { error: 'Choose read or write.' }),
});

type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

/** The admin pages for API keys, and the public OpenAPI document with its readable page. */
export function createApiController(deps: { keys: ApiKeyService; document: OpenApiDocument; ratePerMinute: number }) {
  const { keys, document, ratePerMinute } = deps;
  const documentJson = JSON.stringify(document);

  const renderKeys = async (res: Parameters<RequestHandler>[1], status = 200, extra: Record<string, unknown> = {}) => {
    res.status(status).render('api/keys.njk', {
      title: 'API keys',
      section: 'api-keys',
      ratePerMinute,
      keys: await keys.list(),
      values: { scope: 'read' },
      errors: {},
      ...extra,
    });
  };

  const getKeys: RequestHandler = async (_req, res) => renderKeys(res);

  /** The key is on this page only: the answer is 200 with no-store, not a redirect to a page that could show it again. */
  const postKey: RequestHandler = async (req, res) => {
    const values = formValues(req.body, ['name', 'scope']);
    const parsed = parseInput(ApiKeySchema, req.body);
    if (!parsed.ok) return renderKeys(res, 400, { values, errors: parsed.errors });
    const { key, row } = await keys.create(req.user!, parsed.data);
    res.setHeader('Cache-Control', 'no-store');
    await renderKeys(res, 201, { created: { key, name: row.name, scope: row.scope } });
  };

  const postRevoke: RequestHandler = async (req, res) => {
    const parsed = parseInput(IdParamSchema, req.params);
    if (!parsed.ok) throw notFound();
    const revoked = await keys.revoke(req.user!, parsed.data.id);
    setFlash(res, 'success', `The key “${revoked.name}” is revoked: requests with it now answer 401.`);
    res.redirect(303, '/admin/api-keys');
  };

  const getOpenApi: RequestHandler = (_req, res) => {
    res.type('application/json').send(documentJson);
  };

  /** The document as a page, rendered here: no script, no CDN, nothing the CSP has to allow. */
  const getReference: RequestHandler = (_req, res) => {
    const operations = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      (['get', 'post', 'delete'] as const).flatMap((method) => {
        const o = item?.[method];
        if (!o) return [];
        return [{ method: method.toUpperCase(), path, anchor: o.operationId, operation: o }];
      }),
    );
    res.render('api/reference.njk', {
      title: 'Integration API reference',
      document,
      operations,
      schemas: Object.entries(document.components?.schemas ?? {}),
      json: (value: unknown) => JSON.stringify(value, null, 2),
    });
  };

  return { getKeys, postKey, postRevoke, getOpenApi, getReference };
}
