import { utcMinute } from '../clock.js';
import type { Express } from 'express';
import nunjucks from 'nunjucks';
import { viewsDir } from '../paths.js';
import type { Config } from '../config.js';
import type { Assets } from './assets.js';

/** Nunjucks with autoescape on; templates are views/<module>/<page>.njk. */
export function setUpViews(app: Express, config: Config, assets: Assets): nunjucks.Environment {
  // Compiled templates are cached in every environment: recompiling per render costs
  // milliseconds. `npm run dev` restarts the process when a template changes.
  const env = nunjucks.configure(viewsDir, {
    autoescape: true,
    throwOnUndefined: false,
    noCache: false,
    express: app,
  });
  env.addGlobal('baseUrl', config.baseUrl);
  // {{ asset('/static/css/app.css') }} → /static/css/app.css?v=<content hash>
  env.addGlobal('asset', assets.url);
  env.addFilter('date', (value: Date | number | null | undefined) => {
    if (value === null || value === undefined) return '';
    return new Date(value).toISOString().slice(0, 10);
  });
  env.addFilter('datetime', (value: Date | number | null | undefined) => {
    if (value === null || value === undefined) return '';
    return utcMinute(value);
  });
  // One formatter for the process: constructing an Intl.NumberFormat costs far more than a render.
  const integer = new Intl.NumberFormat('en-US');
  env.addFilter('number', (value: number) => integer.format(value));
  env.addFilter('percent', (value: number) => `${(value * 100).toFixed(1)}%`);
  env.addFilter('fixed2', (value: number) => value.toFixed(2));
  app.set('view engine', 'njk');
  app.set('views', viewsDir);
  app.enable('view cache');
  return env;
}
