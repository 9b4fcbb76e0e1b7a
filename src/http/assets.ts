import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express, { Router, type Request } from 'express';
import { projectRoot, publicDir } from '../paths.js';

export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
/** Unversioned URLs (old bookmarks, hand-written links) still work, but revalidate soon. */
export const SHORT_CACHE = 'public, max-age=300';

/** A directory served under a URL prefix; `versioned` limits hashing to the files pages link to. */
export interface AssetDir {
  prefix: string;
  dir: string;
  versioned?: readonly string[];
}

export const defaultAssetDirs: readonly AssetDir[] = [
  { prefix: '/static', dir: publicDir },
  // Pico ships 20 MB of theme variants; pages link to one file.
  { prefix: '/static/vendor/pico', dir: path.join(projectRoot, 'node_modules/@picocss/pico/css'), versioned: ['pico.min.css'] },
];

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

const contentHash = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('base64url').slice(0, 16);

/**
 * Static files with versioned URLs. Each file's version is a hash of its content, taken
 * once at start-up, so a changed file gets a new URL and a cache can keep the old one
 * forever. A response is marked immutable only when the requested version is the hash
 * of the bytes being sent: during a rolling deploy, an old server asked for a new
 * version answers with a short cache, never a stale file pinned for a year.
 */
export function createAssets(dirs: readonly AssetDir[] = defaultAssetDirs) {
  const versionOfFile = new Map<string, string>();
  const urlOfPath = new Map<string, string>();
  for (const { prefix, dir, versioned } of dirs) {
    for (const relative of versioned ?? filesUnder(dir)) {
      const file = path.join(dir, relative);
      const version = contentHash(file);
      const urlPath = `${prefix}/${relative.split(path.sep).join('/')}`;
      versionOfFile.set(file, version);
      urlOfPath.set(urlPath, `${urlPath}?v=${version}`);
    }
  }

  /** The versioned URL of a static file, for templates; an unknown path is a template bug. */
  function url(urlPath: string): string {
    const versioned = urlOfPath.get(urlPath);
    if (!versioned) throw new Error(`No static asset at ${urlPath}`);
    return versioned;
  }

  const router = Router();
  for (const { prefix, dir } of dirs) {
    router.use(
      prefix,
      express.static(dir, {
        index: false,
        // Overrides the no-store that every response starts with (security.ts).
        setHeaders(res, file) {
          const requested = (res.req as Request).query.v;
          const current = versionOfFile.get(file);
          res.setHeader('Cache-Control', current !== undefined && requested === current ? IMMUTABLE_CACHE : SHORT_CACHE);
        },
      }),
    );
  }

  return { url, serve: router };
}

export type Assets = ReturnType<typeof createAssets>;
