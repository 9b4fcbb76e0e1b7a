import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Operation } from './api.operations.js';
import { EmptyBody, Problem } from './api.schemas.js';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed: see `errors` for each field.',
  401: 'No API key, or one that is unknown or revoked.',
  403: 'A read key on a write route.',
  404: 'No such participant, referral or page.',
  405: 'The route exists with another method.',
  409: 'The referral is not in a state this action applies to, or a request with this Idempotency-Key is still running.',
  415: 'A body that is not application/json.',
  422: 'The Idempotency-Key was used before with a different request.',
  429: 'The key has used its requests for this minute; see `Retry-After` and `RateLimit`.',
};

/**
 * The OpenAPI 3.1 document of /api/v1, generated from the operation table and its zod
 * schemas: what the router validates is what the document says.
 */
export function buildOpenApiDocument(operations: readonly Operation[], baseUrl: string) {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key made on /admin/api-keys (`rk_…`). Read keys may call GET routes only.',
  });
  const problem = { 'application/problem+json': { schema: Problem } };
  const idempotencyKey = z
    .string()
    .optional()
    .meta({ description: 'Replays the first successful answer to this key for 24 hours instead of running the request again.' });

  for (const o of operations) {
    const statuses = [...new Set([401, ...(o.scope === 'write' ? [403] : []), 405, 429, ...o.errors, ...(o.method === 'post' ? [409, 415, 422] : [])])];
    registry.registerPath({
      method: o.method,
      path: o.path,
      operationId: o.operationId,
      summary: o.summary,
      description: o.description,
      tags: [o.path.split('/')[1]!],
      security: [{ [bearer.name]: [] }],
      request: {
        params: o.params as z.ZodObject | undefined,
        query: o.query as z.ZodObject | undefined,
        headers: o.method === 'post' ? z.object({ 'Idempotency-Key': idempotencyKey }) : undefined,
        // Bodyless actions accept `{}` or nothing.
        body: o.body ? { required: o.body !== EmptyBody, content: { 'application/json': { schema: o.body } } } : undefined,
      },
      responses: Object.fromEntries<ResponseConfig>([
        ...Object.entries(o.responses).map(([status, r]): [string, ResponseConfig] => [
          status,
          { description: r.description, ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}) },
        ]),
        ...statuses
          .sort()
          .map((status): [string, ResponseConfig] => [String(status), { description: ERROR_DESCRIPTIONS[status] ?? 'Error.', content: problem }]),
      ]),
    });
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Referral program integration API',
      version: '1.0.0',
      description:
        'Put the referral program behind your own product: create participants, report conversions, review referrals, read the leaderboard. Errors are RFC 9457 problem details; every key has a per-minute budget reported in the `RateLimit` headers.',
    },
    servers: [{ url: `${baseUrl}/api/v1` }],
  });
}
