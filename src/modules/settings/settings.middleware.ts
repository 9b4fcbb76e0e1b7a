import type { RequestHandler, Response } from 'express';
import type { CurrentSettings, SettingsService } from './settings.service.js';

declare module 'express-serve-static-core' {
  interface Locals {
    /** The program settings every template renders with (layout, titles, footer). */
    program?: CurrentSettings;
  }
}

/**
 * Puts the program settings into every response's template data. It runs before the page
 * cache answers, so a cached page is served only when it was rendered with these settings.
 * Almost always the settings are in memory and this waits for nothing.
 */
export function programSettings(settings: Pick<SettingsService, 'current' | 'ifFresh'>): RequestHandler {
  return (_req, res, next) => {
    const known = settings.ifFresh();
    if (known) {
      res.locals.program = known;
      return next();
    }
    settings.current().then((current) => {
      res.locals.program = current;
      next();
    }, next);
  };
}

/** The settings version a response renders with (see createPageCache); -1 when it has none. */
export const settingsVersionOf = (res: Response): number => res.locals.program?.version ?? -1;
