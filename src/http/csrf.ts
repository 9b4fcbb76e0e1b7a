import type { Request, RequestHandler } from 'express';
import { csrfSync } from 'csrf-sync';
import { forbidden } from '../errors.js';
import { ensureDeviceCookie } from './device.js';

/**
 * Synchronizer-token CSRF protection: the token lives in the session, forms send it as
 * `_csrf`, JSON clients as `x-csrf-token`.
 */
const { generateToken, csrfSynchronisedProtection } = csrfSync({
  getTokenFromRequest: (req: Request) => {
    const header = req.headers['x-csrf-token'];
    if (typeof header === 'string') return header;
    const body: unknown = req.body;
    if (body && typeof body === 'object' && '_csrf' in body) {
      const field = (body as Record<string, unknown>)._csrf;
      if (typeof field === 'string') return field;
    }
    return undefined;
  },
});

export const csrfProtection: RequestHandler = (req, res, next) => {
  csrfSynchronisedProtection(req, res, (err?: unknown) => {
    if (err) return next(forbidden('Your form expired or was sent from somewhere else. Reload the page and try again.'));
    next();
  });
};

/**
 * Exposes a lazy `csrfToken()` to templates: only pages that render a form start a
 * session, and those pages also get the device cookie the fraud screen compares.
 */
export const exposeCsrfToken =
  (secureCookies: boolean): RequestHandler =>
  (req, res, next) => {
    res.locals.csrfToken = () => {
      ensureDeviceCookie(req, res, secureCookies);
      return generateToken(req);
    };
    next();
  };
