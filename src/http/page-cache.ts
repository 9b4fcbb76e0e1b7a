import type { Request, Response } from 'express';
import { LRUCache } from 'lru-cache';

/**
 * Rendered HTML of public pages, for anonymous visitors only. A logged-in visitor (whose
 * page carries their highlight and a CSRF token) or one with a flash message always gets
 * a fresh render, so nothing personal is ever cached. Keys carry the data's version:
 * a change makes every old entry unreachable at once.
 */
export function createPageCache(options: { enabled: boolean; max?: number }) {
  const cache = new LRUCache<string, string>({ max: options.max ?? 200 });
  return {
    render(req: Request, res: Response, key: string, version: number, view: string, data: object): void {
      if (!options.enabled || req.user || res.locals.flash) return res.render(view, data);
      const fullKey = `${version}:${key}`;
      const hit = cache.get(fullKey);
      if (hit !== undefined) {
        res.type('html').send(hit);
        return;
      }
      res.render(view, data, (err: Error | null, html: string) => {
        if (err) return req.next?.(err);
        cache.set(fullKey, html);
        res.type('html').send(html);
      });
    },
  };
}

export type PageCache = ReturnType<typeof createPageCache>;
