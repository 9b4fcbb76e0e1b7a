import type { RequestHandler } from 'express';
import type { User } from '../../db/schema.js';
import { forbidden, unauthorized } from '../../errors.js';
import type { UserRepository } from './users.repository.js';

declare module 'express-serve-static-core' {
  interface Request {
    user?: User;
  }
}

/**
 * Reads the account behind the session on every request, so a disabled account or a
 * deleted user loses access at once, not when the cookie expires.
 */
export function loadCurrentUser(users: UserRepository): RequestHandler {
  return async (req, res, next) => {
    const userId = req.session?.userId;
    if (userId === undefined) return next();
    const user = await users.findById(userId);
    if (!user || user.status !== 'active') {
      req.session.destroy(() => next());
      return;
    }
    req.user = user;
    res.locals.currentUser = {
      id: user.id,
      name: user.name,
      role: user.role,
      email: user.email,
      emailVerified: user.emailVerifiedAt !== null,
      wasReferred: user.referredById !== null,
    };
    next();
  };
}

/** Pages for people who are logged in: anonymous visitors go to the login form and come back. */
export const requireUser: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.redirect(302, `/auth/login?next=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  next(unauthorized('Log in first.'));
};

/** Login and sign-up forms are for anonymous visitors; a logged-in user goes to the dashboard. */
export const requireAnonymous: RequestHandler = (req, res, next) => {
  if (!req.user) return next();
  res.redirect(302, '/dashboard');
};

/**
 * Only same-site paths may be redirect targets after login: "/x" yes; "//evil.com",
 * "/\\evil.com", "https://evil.com", "javascript:" no.
 */
export function safeNextPath(next: unknown): string | null {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2000) return null;
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return null;
  try {
    const base = 'http://same.invalid';
    const url = new URL(next, base);
    if (url.origin !== base) return null;
    if (url.pathname.startsWith('/auth/logout')) return null;
    // Dot segments collapse during parsing ("/.//x", "/%2e//x", "/a/..//x" all become
    // "//x"), and a browser reads a Location of "//x" as another host.
    const path = `${url.pathname}${url.search}${url.hash}`;
    if (path.startsWith('//') || path.startsWith('/\\')) return null;
    return path;
  } catch {
    return null;
  }
}

/** Admin pages: anonymous visitors log in first; logged-in non-admins get 403. */
export const requireAdmin: RequestHandler = (req, res, next) => {
  if (!req.user) return requireUser(req, res, next);
  if (req.user.role !== 'admin') return next(forbidden('This area is for administrators.'));
  next();
};
