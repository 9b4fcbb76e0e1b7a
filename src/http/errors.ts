import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { storageFault } from '../db/errors.js';
import { AppError } from '../errors.js';
import type { Config } from '../config.js';

/** API paths, JSON bodies and clients that prefer JSON get errors as `{ "error": … }`. */
const wantsJson = (req: Request) => req.path.startsWith('/api/') || Boolean(req.is('application/json')) || req.accepts(['html', 'json']) === 'json';

/** The integration API answers errors as RFC 9457 problem details. */
const isIntegrationApi = (req: Request) => req.originalUrl === '/api/v1' || req.originalUrl.startsWith('/api/v1/');

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * `type` stays `about:blank` (the status says what kind of problem it is, RFC 9457 §4.2.1)
 * and `code` is a stable machine-readable extension; field errors are listed with a JSON
 * pointer into the request body or query.
 */
export function sendProblem(res: Response, status: number, detail: string, extra: { code?: string; fields?: Record<string, string> } = {}): void {
  const body: Record<string, unknown> = { type: 'about:blank', title: STATUS_TITLES[status] ?? 'Error', status, detail };
  if (extra.code) body.code = extra.code;
  if (extra.fields) body.errors = Object.entries(extra.fields).map(([field, message]) => ({ pointer: `#/${field}`, detail: message }));
  res.status(status).type('application/problem+json').json(body);
}

export const notFoundHandler: RequestHandler = (req, res) => {
  if (isIntegrationApi(req)) {
    sendProblem(res, 404, 'There is no such API route.', { code: 'no_route' });
    return;
  }
  if (wantsJson(req)) {
    res.status(404).json({ error: 'Not found' });
    return;
  }
  res.status(404).render('errors/404.njk', { title: 'Page not found' });
};

/** Status for errors raised by body-parser and friends, which carry their own 4xx. */
function statusOf(err: unknown): number {
  if (err instanceof AppError) return err.status;
  const candidate = (err as { status?: unknown; statusCode?: unknown } | null) ?? {};
  const status = Number(candidate.status ?? candidate.statusCode);
  return Number.isInteger(status) && status >= 400 && status < 600 ? status : 500;
}

const clientMessages: Record<number, string> = {
  400: 'The request could not be understood.',
  403: 'You do not have access to this page.',
  404: 'Page not found.',
  413: 'That was too much data. Shorten the form and try again.',
  415: 'Unsupported content type.',
  405: 'This method is not allowed here.',
};

/** The same errors, told to a program rather than a person filling in a form. */
const apiMessages: Record<number, string> = {
  400: 'The body is not valid JSON.',
  413: 'The body is larger than 100 kB.',
  415: 'Send the body as application/json.',
};

/**
 * What a person is told when the database cannot take the request (full disk, read-only,
 * lost server): nothing was saved, and when to try again. Never a 403 or a bare 500.
 */
export const STORAGE_UNAVAILABLE = 'We cannot save anything right now, so nothing was saved. Please try again in a minute.';
const STORAGE_RETRY_AFTER_SEC = 30;

/** The one place errors become responses. Details of 5xx never reach the client in production. */
export function errorHandler(config: Config, logger: Logger): ErrorRequestHandler {
  return (caught, req, res, _next) => {
    let err: unknown = caught;
    const fault = storageFault(err);
    if (fault) {
      logger.error({ code: fault, url: req.originalUrl, err: caught }, 'storage unavailable');
      err = new AppError(503, STORAGE_UNAVAILABLE, { code: 'storage_unavailable', retryAfterSec: STORAGE_RETRY_AFTER_SEC });
    }
    const status = statusOf(err);
    if (status >= 500 && !(err instanceof AppError)) logger.error({ err, url: req.originalUrl }, 'request failed');
    if (res.headersSent) return;

    const message =
      err instanceof AppError
        ? err.message
        : status >= 500
          ? 'Something went wrong on our side. Please try again.'
          : (clientMessages[status] ?? 'The request could not be processed.');
    if (err instanceof AppError && err.options.retryAfterSec) res.setHeader('Retry-After', String(err.options.retryAfterSec));
    // A failed request leaves the stored session as it was. express-session would otherwise
    // save a session changed on the way (a regenerated id) as this page ends, fail again
    // on a full disk, and cut the connection instead of sending the page.
    if (status >= 500 && req.session) delete (req as { session?: unknown }).session;

    if (isIntegrationApi(req)) {
      if (err instanceof AppError) sendProblem(res, status, message, { code: err.code, fields: err.options.fields });
      else sendProblem(res, status, apiMessages[status] ?? message, { code: status >= 500 ? 'internal' : 'bad_request' });
      return;
    }
    if (wantsJson(req)) {
      res.status(status).json({ error: message });
      return;
    }
    const view = status === 404 ? 'errors/404.njk' : status === 503 ? 'errors/503.njk' : status >= 500 ? 'errors/500.njk' : 'errors/4xx.njk';
    res.status(status).render(view, {
      title: status === 503 ? 'Try again in a moment' : status >= 500 ? 'Server error' : message,
      status,
      message,
      detail: !config.isProduction && status >= 500 && err instanceof Error && !(err instanceof AppError) ? err.stack : undefined,
    });
  };
}
