import crypto from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * A random first-party device cookie for the fraud screen ("same browser as the
 * referrer"). It identifies nothing by itself, is stored only as a keyed hash, and is set
 * together with the CSRF cookie on pages that render a form, never on plain pages.
 */
export const DEVICE_COOKIE = 'did';
const DEVICE_SHAPE = /^[A-Za-z0-9_-]{22}$/;
const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

export function deviceIdOf(req: Request): string | null {
  const value: unknown = req.cookies?.[DEVICE_COOKIE];
  return typeof value === 'string' && DEVICE_SHAPE.test(value) ? value : null;
}

export function ensureDeviceCookie(req: Request, res: Response, secure: boolean): void {
  if (deviceIdOf(req) !== null || res.headersSent) return;
  const id = crypto.randomBytes(16).toString('base64url');
  res.cookie(DEVICE_COOKIE, id, { maxAge: ONE_YEAR_MS, httpOnly: true, sameSite: 'lax', secure, path: '/' });
  // Later code in this request (a sign-up POST rendering its form again) sees the same id.
  (req.cookies as Record<string, string>)[DEVICE_COOKIE] = id;
}

/** What the fraud screen learns about the client of this request, before hashing. */
export const clientContext = (req: Request) => ({ ip: req.ip ?? null, deviceId: deviceIdOf(req) });
