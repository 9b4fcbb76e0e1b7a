import type { Express, Request, Response } from 'express';
import { csrfCookieName } from './csrf.js';
import session from 'express-session';
import type { Config } from '../config.js';
import type { SessionStore } from '../db/session-store.js';

export const sessionCookieName = (config: Config) => (config.isProduction ? '__Host-sid' : 'sid');

/**
 * A session exists only once someone logs in or signs up (the only places that store
 * anything in it; forms are protected by a cookie, see csrf.ts), so an anonymous visitor,
 * however many pages and forms they view, costs no row and gets no session cookie. A GET
 * without a session cookie skips the session layer entirely: the leaderboard, the home
 * page, the API and the login and sign-up forms serve a crowd (or a loop of curl) without
 * minting a session object per request.
 */
export function setUpSession(app: Express, config: Config, store: SessionStore): void {
  if (config.trustProxy > 0) app.set('trust proxy', config.trustProxy);
  const cookiePrefix = `${sessionCookieName(config)}=`;
  const middleware = session({
    name: sessionCookieName(config),
    secret: config.sessionSecret,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'destroy',
    proxy: config.trustProxy > 0,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: config.isProduction,
      path: '/',
      maxAge: config.sessionMaxAgeMs,
    },
  });
  app.use((req, res, next) => {
    // Opening a login link is the one GET that logs someone in.
    const anonymousRead =
      (req.method === 'GET' || req.method === 'HEAD') && !(req.headers.cookie ?? '').includes(cookiePrefix) && !req.path.startsWith('/auth/link/');
    if (anonymousRead) return next();
    middleware(req, res, next);
  });
}

const promisify =
  (method: 'regenerate' | 'destroy' | 'save') =>
  (req: Request): Promise<void> =>
    new Promise((resolve, reject) =>
      req.session[method]((err: unknown) => (err ? reject(err instanceof Error ? err : new Error('session store failed', { cause: err })) : resolve())),
    );

/** A fresh session id for a fresh identity: the old id (and anything planted in it) is gone. */
export const regenerateSession = promisify('regenerate');
export const destroySession = promisify('destroy');
export const saveSession = promisify('save');

/**
 * A new identity (login, sign-up) gets a session id nobody else has seen. An id the
 * request presented and the store knew is replaced (a planted, fixated id dies here); an
 * id express-session generated during this very request (no session cookie, or one the
 * store did not know) is already new, so it is kept, which spares a write per login.
 * cookie-parser, mounted with the same secret, has already checked the cookie's signature.
 */
export async function freshSessionId(req: Request, config: Config): Promise<void> {
  const presented = (req.signedCookies as Record<string, unknown> | undefined)?.[sessionCookieName(config)];
  if (presented === req.sessionID) await regenerateSession(req);
}

/**
 * Ends the browser's session: the stored row (when there is one) and both cookies. The
 * CSRF token was bound to the session that ends, so the next form starts afresh.
 */
export async function endSession(req: Request, res: Response, config: Config): Promise<void> {
  if (req.session) await destroySession(req);
  const cookie = { path: '/', secure: config.isProduction, httpOnly: true, sameSite: 'lax' } as const;
  res.clearCookie(sessionCookieName(config), cookie);
  res.clearCookie(csrfCookieName(config), cookie);
}
