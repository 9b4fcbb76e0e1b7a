import crypto from 'node:crypto';
import type { CookieOptions, Request, RequestHandler, Response } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import type { Config } from '../config.js';
import { forbidden } from '../errors.js';
import { ensureDeviceCookie } from './device.js';

export const CSRF_FAILED = 'Your form expired or was sent from somewhere else. Reload the page and try again.';

/** How long a form shown to someone who is not logged in can be sent (refreshed by every form page). */
export const ANONYMOUS_CSRF_MAX_AGE_MS = 4 * 60 * 60 * 1000;

export const csrfCookieName = (config: Pick<Config, 'isProduction'>) => (config.isProduction ? '__Host-csrf' : 'csrf');

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const loggedIn = (req: Request) => req.session?.userId !== undefined;

/** What a token is bound to: the session once logged in, else nothing but its own cookie. */
const identityOf = (req: Request) => (loggedIn(req) ? `session:${req.sessionID}` : 'anonymous');

/**
 * Right after a login (the session id just regenerated): puts a token bound to the new
 * session in the cookie now, so the pre-login one is gone at once and the next form page
 * (or a client that reads its token after preparing a request) uses this one.
 */
export function issueCsrfToken(res: Response): void {
  issuers.get(res)?.();
}

/** Each response's `csrfToken()`, for issueCsrfToken. */
const issuers = new WeakMap<Response, () => string>();

/**
 * CSRF protection that stores nothing on the server: a signed double-submit token
 * (csrf-csrf). A page with a form puts a token in its `_csrf` field and the same token in
 * a short-lived httpOnly cookie; a POST must bring both, equal, with a valid HMAC. Forms
 * send `_csrf`, JSON clients the `x-csrf-token` header.
 *
 * - Not logged in (no session: viewing a form creates none): the HMAC covers the token's
 *   random part under a key derived from SESSION_SECRET, so the token can be neither
 *   forged nor taken from another browser, whose cookie holds a different one. The cookie
 *   lives a few hours and is `__Host-` + Secure in production, so no other host can plant one.
 * - Logged in: the HMAC also covers the session id. A token issued before login (or for
 *   another session, another user) fails once the session exists, so nothing planted
 *   before login survives it. Login and sign-up check the submitted form's token before
 *   they regenerate the session id, then replace the cookie with a token bound to the new
 *   one (issueCsrfToken). The cookie then expires with the session: the token is
 *   worthless without it, and a shorter life would only break forms left open in a tab.
 */
export function createCsrf(config: Pick<Config, 'isProduction' | 'sessionSecret'>) {
  const cookieName = csrfCookieName(config);
  // A key of its own, so a CSRF token never doubles as a signature of anything else.
  const key = Buffer.from(crypto.hkdfSync('sha256', config.sessionSecret, 'referral-system', 'csrf-token v1', 32)).toString('base64url');
  const baseCookie: CookieOptions = { httpOnly: true, sameSite: 'lax', secure: config.isProduction, path: '/' };

  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => key,
    getSessionIdentifier: identityOf,
    cookieName,
    cookieOptions: { ...baseCookie, maxAge: ANONYMOUS_CSRF_MAX_AGE_MS },
    getCsrfTokenFromRequest: (req) => {
      const header = req.headers['x-csrf-token'];
      if (header !== undefined) return typeof header === 'string' ? header : undefined;
      const body: unknown = req.body;
      if (body && typeof body === 'object' && '_csrf' in body) {
        const field = (body as Record<string, unknown>)._csrf;
        if (typeof field === 'string') return field;
      }
      return undefined;
    },
  });

  /** The cookie's lifetime: a few hours before login, the session's own after it. */
  function cookieOptionsFor(req: Request): CookieOptions {
    const sessionEnd = loggedIn(req) ? req.session.cookie.expires : undefined;
    if (sessionEnd instanceof Date && sessionEnd.getTime() > Date.now()) return { ...baseCookie, expires: sessionEnd };
    return { ...baseCookie, maxAge: ANONYMOUS_CSRF_MAX_AGE_MS };
  }

  /** Refuses a state-changing request whose token is missing, wrong, or not this browser's. */
  const protect: RequestHandler = (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (!validateRequest(req)) return next(forbidden(CSRF_FAILED));
    next();
  };

  /**
   * Exposes a lazy `csrfToken()` to templates: only pages that render a form set the CSRF
   * cookie, and those pages also get the device cookie the fraud screen compares. A valid
   * token already in the cookie is reused, so several tabs keep working; one page gets one
   * token however many forms it renders.
   */
  const expose: RequestHandler = (req, res, next) => {
    let issued: { identity: string; token: string } | undefined;
    const csrfToken = () => {
      ensureDeviceCookie(req, res, config.isProduction);
      const identity = identityOf(req);
      // Once per page, and again only if the request logged in or out meanwhile.
      if (issued?.identity !== identity) {
        // A cookie that is not a plain string (cookie-parser turns `j:…` into JSON) is replaced.
        const current: unknown = (req.cookies as Record<string, unknown> | undefined)?.[cookieName];
        issued = { identity, token: generateCsrfToken(req, res, { cookieOptions: cookieOptionsFor(req), overwrite: typeof current !== 'string' }) };
      }
      return issued.token;
    };
    res.locals.csrfToken = csrfToken;
    issuers.set(res, csrfToken);
    next();
  };

  return { protect, expose };
}
