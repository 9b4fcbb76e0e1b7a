import type { Express } from 'express';
import nunjucks from 'nunjucks';
import { viewsDir } from '../paths.js';
import type { Config } from '../config.js';

/** Nunjucks with autoescape on; templates are views/<module>/<page>.njk. */
export function setUpViews(app: Express, config: Config): nunjucks.Environment {
  const env = nunjucks.configure(viewsDir, {
    autoescape: true,
    throwOnUndefined: false,
    noCache: config.env === 'development',
    express: app,
  });
  env.addGlobal('baseUrl', config.baseUrl);
  env.addFilter('date', (value: Date | number | null | undefined) => {
    if (value === null || value === undefined) return '';
    return new Date(value).toISOString().slice(0, 10);
  });
  env.addFilter('datetime', (value: Date | number | null | undefined) => {
    if (value === null || value === undefined) return '';
    return `${new Date(value).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  });
  env.addFilter('number', (value: number) => new Intl.NumberFormat('en-US').format(value));
  env.addFilter('percent', (value: number) => `${(value * 100).toFixed(1)}%`);
  app.set('view engine', 'njk');
  app.set('views', viewsDir);
  return env;
}
