import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { projectRoot } from '../src/paths.js';
import { tempDir } from './helpers/app.js';

const SECRET = 'a-long-enough-secret-for-the-tests-0123456789';
const dirs: string[] = [];
function scratch(): string {
  const dir = tempDir('referral-config-');
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('applies the documented defaults when nothing is set but the secret', () => {
    const c = loadConfig({ SESSION_SECRET: SECRET });
    expect(c.env).toBe('development');
    expect(c.isProduction).toBe(false);
    expect(c.port).toBe(3000);
    expect(c.baseUrl).toBe('http://localhost:3000');
    expect(c.databaseFile).toBe(path.join(projectRoot, 'data', 'app.db'));
    expect(c.bcryptCost).toBe(12);
    expect(c.trustProxy).toBe(0);
    expect(c.sessionSecret).toBe(SECRET);
  });

  it('defaults the rate limits to the SPEC values', () => {
    const r = loadConfig({ SESSION_SECRET: SECRET }).rateLimits;
    expect(r.enabled).toBe(true);
    expect(r.loginPerEmailIp).toBe(10);
    expect(r.loginPerIp).toBe(100);
    expect(r.signupPerIp).toBe(30);
    expect(r.applyPerUser).toBe(10);
    expect(r.clickPerIp).toBe(60);
    expect(r.resetPerAccount).toBe(5);
    expect(r.resetPerIp).toBe(20);
  });

  it('reads numbers from strings', () => {
    const c = loadConfig({ SESSION_SECRET: SECRET, PORT: '8080', BCRYPT_COST: '4', TRUST_PROXY: '2', RATE_SIGNUP_PER_IP: '7' });
    expect(c.port).toBe(8080);
    expect(c.bcryptCost).toBe(4);
    expect(c.trustProxy).toBe(2);
    expect(c.rateLimits.signupPerIp).toBe(7);
  });

  it.each(['abc', '70000', '-1', '80.5'])('rejects PORT=%j with a ConfigError naming PORT', (port) => {
    const err = configError({ SESSION_SECRET: SECRET, PORT: port });
    expect(err.message).toContain('PORT');
    expect(err.problems.some((p) => p.startsWith('PORT'))).toBe(true);
  });

  it('refuses to start in production without SESSION_SECRET', () => {
    const err = configError({ NODE_ENV: 'production', DATABASE_FILE: path.join(scratch(), 'app.db') });
    expect(err.message).toContain('SESSION_SECRET');
  });

  it('treats an empty SESSION_SECRET in production as missing', () => {
    const err = configError({ NODE_ENV: 'production', SESSION_SECRET: '', DATABASE_FILE: path.join(scratch(), 'app.db') });
    expect(err.message).toContain('SESSION_SECRET');
  });

  it('accepts production with a SESSION_SECRET', () => {
    const c = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET, BASE_URL: 'https://refer.example.com' });
    expect(c.isProduction).toBe(true);
    expect(c.sessionSecret).toBe(SECRET);
  });

  it('refuses a SESSION_SECRET shorter than 32 characters', () => {
    const err = configError({ SESSION_SECRET: 'short' });
    expect(err.message).toContain('SESSION_SECRET');
  });

  it.each(['ftp://example.com', 'javascript:alert(1)', 'localhost:3000', 'not a url'])('refuses BASE_URL=%j: it must be http(s)', (url) => {
    const err = configError({ SESSION_SECRET: SECRET, BASE_URL: url });
    expect(err.message).toContain('BASE_URL');
  });

  it('reduces BASE_URL to its origin', () => {
    expect(loadConfig({ SESSION_SECRET: SECRET, BASE_URL: 'https://refer.example.com/' }).baseUrl).toBe('https://refer.example.com');
  });

  it('refuses a BCRYPT_COST below 4', () => {
    expect(configError({ SESSION_SECRET: SECRET, BCRYPT_COST: '3' }).message).toContain('BCRYPT_COST');
  });

  it('names every bad variable in one error', () => {
    const err = configError({ SESSION_SECRET: SECRET, PORT: 'x', BASE_URL: 'ftp://x', TRUST_PROXY: 'lots' });
    expect(err.message).toContain('PORT');
    expect(err.message).toContain('BASE_URL');
    expect(err.message).toContain('TRUST_PROXY');
  });

  it('generates a development session secret beside the database and reuses it on the next start', () => {
    const dir = scratch();
    const warnings: string[] = [];
    const env = { NODE_ENV: 'development', DATABASE_FILE: path.join(dir, 'app.db') };
    const first = loadConfig(env, { warn: (m) => warnings.push(m) });
    const file = path.join(dir, 'session-secret');
    expect(fs.existsSync(file)).toBe(true);
    expect(first.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(first.sessionSecret);
    const second = loadConfig(env, { warn: (m) => warnings.push(m) });
    expect(second.sessionSecret).toBe(first.sessionSecret);
    expect(warnings.length).toBe(2);
  });

  it('keeps the generated secret file private to its owner', () => {
    const dir = scratch();
    loadConfig({ DATABASE_FILE: path.join(dir, 'app.db') });
    const mode = fs.statSync(path.join(dir, 'session-secret')).mode & 0o777;
    expect(mode & 0o077).toBe(0);
  });

  it('generates different secrets for different data directories', () => {
    const a = loadConfig({ DATABASE_FILE: path.join(scratch(), 'app.db') });
    const b = loadConfig({ DATABASE_FILE: path.join(scratch(), 'app.db') });
    expect(a.sessionSecret).not.toBe(b.sessionSecret);
  });
});
