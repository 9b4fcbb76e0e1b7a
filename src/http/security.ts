import type { Express, RequestHandler } from 'express';
import helmet from 'helmet';
import type { Config } from '../config.js';
import { forbidden } from '../errors.js';

/**
 * No page uses a camera, microphone, location, payment or USB device, so neither can an
 * injected script; the dashboard's copy button writes to the clipboard. Only features
 * Chromium knows are named: an unknown one is reported as a console error.
 */
const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), clipboard-write=(self)';

/** helmet with a CSP that allows nothing inline and nothing from another origin. */
export function setUpSecurityHeaders(app: Express, config: Config): void {
  app.disable('x-powered-by');
  const https = config.baseUrl.startsWith('https:');
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          ...(https ? { upgradeInsecureRequests: [] } : {}),
        },
      },
      strictTransportSecurity: https ? { maxAge: 31536000, includeSubDomains: true } : false,
      referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
      xFrameOptions: { action: 'deny' },
      // Headers no current browser acts on: left out to keep every response lean.
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
      originAgentCluster: false,
    }),
  );
  app.use((_req, res, next) => {
    // Dynamic pages carry personal data or CSRF tokens: never store them in a shared cache.
    // Static files replace this with their own caching (assets.ts).
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Permissions-Policy', PERMISSIONS_POLICY);
    next();
  });
}

/**
 * Rejects state-changing requests that a browser says come from another site. Browsers
 * send Origin on every cross-site POST; a request without it (curl, a server-side
 * integration) still needs the CSRF token, which is checked next.
 */
export function originCheck(config: Config): RequestHandler {
  const allowed = new URL(config.baseUrl);
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    if (req.get('sec-fetch-site') === 'cross-site') return next(forbidden('Cross-site request refused.'));
    const origin = req.get('origin');
    if (origin === undefined) return next();
    // Pages sent with Referrer-Policy: no-referrer (password reset) make the browser send
    // "Origin: null" on their own forms; the browser's Sec-Fetch-Site still vouches for them.
    if (origin === 'null' && req.get('sec-fetch-site') === 'same-origin') return next();
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return next(forbidden('Cross-site request refused.'));
    }
    // The configured origin, or the host this request was addressed to (which a browser
    // sets itself and a cross-site page cannot choose).
    const sameAsBase = url.origin === allowed.origin;
    const sameAsHost = url.host === req.get('host') && (url.protocol === 'http:' || url.protocol === 'https:');
    if (sameAsBase || sameAsHost) return next();
    return next(forbidden('Cross-site request refused.'));
  };
}
