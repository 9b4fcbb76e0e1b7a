import type { Request, RequestHandler, Response } from 'express';

export type FlashKind = 'success' | 'info' | 'error';
interface Flash {
  kind: FlashKind;
  text: string;
}

const COOKIE = 'flash';

/**
 * One-shot messages shown on the page after a redirect. They ride in a short-lived signed
 * cookie rather than the session because some arrive after the session is gone (logout,
 * password reset), and a message must not create a session by itself.
 */
export function setFlash(res: Response, kind: FlashKind, text: string): void {
  res.cookie(COOKIE, JSON.stringify({ kind, text } satisfies Flash), {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: res.req.secure,
    maxAge: 60_000,
    path: '/',
  });
}

export const readFlash: RequestHandler = (req: Request, res, next) => {
  const raw: unknown = req.signedCookies?.[COOKIE];
  if (typeof raw === 'string') {
    try {
      const parsed = JSON.parse(raw) as Partial<Flash>;
      if (typeof parsed.text === 'string' && ['success', 'info', 'error'].includes(parsed.kind ?? '')) {
        res.locals.flash = parsed;
      }
    } catch {
      // A tampered or stale cookie is simply dropped.
    }
  }
  const present = req.signedCookies?.[COOKIE] !== undefined || req.cookies?.[COOKIE] !== undefined;
  if (present && req.method === 'GET') res.clearCookie(COOKIE, { path: '/' });
  next();
};
