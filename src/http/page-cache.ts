import type { Request, RequestHandler, Response } from 'express';
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** A strong validator for cached bytes (Express skips its own when one is set). */
const etag = (body: Buffer) => `"${crypto.createHash('sha1').update(body).digest('base64url')}"`;

/**
 * Rendered HTML of public pages, for anonymous visitors only, keyed by URL and tagged
 * with the ranking version and the program settings version it was rendered from.
 *
 * - `serve` runs early in the middleware chain (right after the security headers): a
 *   GET without any cookie whose URL holds a current entry is answered there, without
 *   sessions, body parsing or routing. That is what a viral crowd on the leaderboard hits.
 * - `render` is what controllers call: logged-in visitors (whose pages carry their
 *   highlight and a CSRF token) and visitors with a flash message always get a fresh
 *   render, and only canonical URLs are stored, so odd query strings cannot push real
 *   pages out. Nothing personal is ever cached.
 */
export function createPageCache(options: {
  enabled: boolean;
  version: () => Promise<number>;
  /**
   * The version of the program settings a response renders its layout with (name, tagline,
   * footer), known before `serve` runs: a page rendered with other settings is not served.
   */
  settingsVersion?: (res: Response) => number;
  max?: number;
}) {
  // Stored as bytes with their ETag, so a hit costs no encoding or hashing.
  const cache = new LRUCache<string, { version: number; settings: number; body: Buffer; etag: string }>({ max: options.max ?? 200 });
  const settingsVersion = options.settingsVersion ?? (() => 0);

  const cacheable = (req: Request) => options.enabled && (req.method === 'GET' || req.method === 'HEAD') && !req.headers.cookie;

  const serve: RequestHandler = async (req, res, next) => {
    if (!cacheable(req)) return next();
    const hit = cache.get(req.originalUrl);
    if (!hit || hit.settings !== settingsVersion(res) || hit.version !== (await options.version())) return next();
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('ETag', hit.etag);
    res.send(hit.body);
  };

  /** `canonicalUrl` null: a page that must never be stored (it changes without a new version). */
  function render(req: Request, res: Response, canonicalUrl: string | null, version: number, view: string, data: object): void {
    if (!cacheable(req) || req.user || res.locals.flash || req.originalUrl !== canonicalUrl) return res.render(view, data);
    res.render(view, data, (err: Error | null, html: string) => {
      if (err) return req.next?.(err);
      const body = Buffer.from(html, 'utf8');
      cache.set(canonicalUrl, { version, settings: settingsVersion(res), body, etag: etag(body) });
      res.type('html').send(html);
    });
  }

  return { serve, render };
}

export type PageCache = ReturnType<typeof createPageCache>;
