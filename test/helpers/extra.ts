import crypto from 'node:crypto';
import { count, eq } from 'drizzle-orm';
import supertest from 'supertest';
import { openDatabase } from '../../src/db/database.js';
import { sessions, users } from '../../src/db/schema.js';
import { appOn, type TestApp } from './app.js';

/** The Set-Cookie lines of a response, always as an array. */
export function setCookies(res: { headers: Record<string, unknown> }): string[] {
  const raw = res.headers['set-cookie'];
  if (typeof raw === 'string') return [raw];
  return Array.isArray(raw) ? raw.filter((line): line is string => typeof line === 'string') : [];
}

/** The Set-Cookie line for one cookie name, if the response set it. */
export function setCookieLine(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  return setCookies(res).find((line) => line.startsWith(`${name}=`));
}

/** The raw (still URL-encoded) value of a cookie the response set. */
export function cookieValue(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const line = setCookieLine(res, name);
  if (!line) return undefined;
  return line.slice(name.length + 1).split(';')[0];
}

/** The CSRF cookie's name outside production (`__Host-csrf` in production). */
export const CSRF_COOKIE = 'csrf';

/** Every cookie a response set, as the `Cookie` header a browser would send back. */
export function cookieHeader(res: { headers: Record<string, unknown> }): string {
  return setCookies(res)
    .map((line) => line.split(';')[0]!)
    .join('; ');
}

/** A request without a cookie jar: only the headers the test sets are sent. */
export function bare(t: TestApp): supertest.SuperTest<supertest.Test> {
  return supertest(t.app) as unknown as supertest.SuperTest<supertest.Test>;
}

/** Signs a cookie value the way cookie-signature (and so express-session) does. */
export function signCookie(value: string, secret: string): string {
  const mac = crypto.createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
  return `s:${value}.${mac}`;
}

/** The session id inside a signed `sid` cookie value ("s%3A<sid>.<mac>"). */
export function sessionIdOf(cookie: string): string {
  const decoded = decodeURIComponent(cookie);
  if (!decoded.startsWith('s:')) throw new Error(`not a signed cookie: ${cookie}`);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
export const unescapeHtml = (s: string) => s.replace(/&(?:amp|lt|gt|quot|#39);/g, (m) => entities[m] ?? m);

/** The message rendered next to one form field (`<small id="e-<field>">`), or undefined. */
export function fieldError(html: string, field: string): string | undefined {
  const match = new RegExp(`<small id="e-${field}"[^>]*>([^<]*)</small>`).exec(html);
  return match?.[1] === undefined ? undefined : unescapeHtml(match[1].trim());
}

/** The form-level error shown above a form (role="alert"), or undefined. */
export function formError(html: string): string | undefined {
  const match = /<p class="flash flash-error" role="alert">([^<]*)<\/p>/.exec(html);
  return match?.[1] === undefined ? undefined : unescapeHtml(match[1].trim());
}

/** The value attribute of the input with this name, or undefined when the input has none. */
export function inputValue(html: string, name: string): string | undefined {
  const tag = new RegExp(`<input[^>]*\\bname="${name}"[^>]*>`).exec(html)?.[0];
  if (!tag) return undefined;
  const value = /\bvalue="([^"]*)"/.exec(tag)?.[1];
  return value === undefined ? undefined : unescapeHtml(value);
}

export async function countUsers(t: TestApp, emailNormalized?: string): Promise<number> {
  const [row] = await t.db
    .select({ n: count() })
    .from(users)
    .where(emailNormalized === undefined ? undefined : eq(users.emailNormalized, emailNormalized));
  return row!.n;
}

export async function setUserStatus(t: TestApp, emailNormalized: string, status: 'active' | 'disabled'): Promise<void> {
  await t.db.update(users).set({ status }).where(eq(users.emailNormalized, emailNormalized));
}

export async function sessionRow(t: TestApp, sid: string): Promise<{ sid: string; userId: number | null } | undefined> {
  const [row] = await t.db.select({ sid: sessions.sid, userId: sessions.userId }).from(sessions).where(eq(sessions.sid, sid));
  return row;
}

/**
 * A second app instance on its own connection to the same database, standing in for
 * another worker process. It shares `t`'s config and clock. Close it (or call
 * closeSiblings) before closing `t`, which deletes the directory.
 */
export function siblingApp(t: TestApp): TestApp {
  const app = appOn(openDatabase(t.config), t.config, t.clock, t.dir);
  // Closed once only, whether by the test or by closeSiblings (a PostgreSQL pool cannot end twice).
  const sibling: TestApp = {
    ...app,
    close() {
      siblings.delete(sibling);
      return app.close();
    },
  };
  siblings.add(sibling);
  return sibling;
}

const siblings = new Set<TestApp>();
/** Closes every sibling app still open (call before closing the original apps). */
export async function closeSiblings(): Promise<void> {
  for (const s of [...siblings]) await s.close();
}
