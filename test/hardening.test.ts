import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import express from 'express';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { users } from '../src/db/schema.js';
import { createAssets } from '../src/http/assets.js';
import { safeNextPath } from '../src/modules/users/users.middleware.js';
import { NameSchema } from '../src/modules/users/users.schemas.js';
import { makeTestApp, tempDir, type TestApp } from './helpers/app.js';
import { insertUser, run, userByEmail } from './helpers/db.js';
import { countUsers, fieldError, inputValue } from './helpers/extra.js';
import { csrfFor, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';

const apps: TestApp[] = [];
function app(env: Parameters<typeof makeTestApp>[0] = {}): TestApp {
  const t = makeTestApp(env);
  apps.push(t);
  return t;
}
afterAll(async () => {
  for (const t of apps) await t.close();
});

describe('display names with Unicode format characters', () => {
  const t = app();

  const refused: [string, string][] = [
    ['a right-to-left override (U+202E)', 'Ada \u202Eecalevol'],
    ['a left-to-right isolate (U+2066)', 'Ada \u2066Lovelace\u2069'],
    ['a zero-width space (U+200B)', 'Ada\u200BLovelace'],
    ['a zero-width joiner (U+200D)', 'Ada\u200DLovelace'],
    ['a leading byte order mark (U+FEFF), which trimming would hide', '\uFEFFAda Lovelace'],
    ['a left-to-right mark (U+200E)', 'Ada Lovelace\u200E'],
    ['a soft hyphen (U+00AD)', 'Ada Love\u00ADlace'],
  ];

  it.each(refused)('refuses a name with %s: 400, the message next to the field, no account', async (_label, name) => {
    const email = uniqueEmail('cf');
    const res = await signup(t.request(), { name, email });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'name')).toMatch(/invisible formatting characters/);
    expect(inputValue(res.text, 'email')).toBe(email);
    expect(await countUsers(t, email.toLowerCase())).toBe(0);
  });

  it.each(['Zoë Ångström-Núñez', '李小龍', 'Ada 🚀', 'José ❤️', '👋🏽 Amara', 'Ελένη Παπαδοπούλου', 'محمد علي', "Seán O'Brien"])(
    'accepts the ordinary name %j',
    async (name) => {
      const email = uniqueEmail('ok');
      const res = await signup(t.request(), { name, email });
      expect(res.status).toBe(303);
      expect((await userByEmail(t.db, email.toLowerCase()))?.name).toBe(name);
    },
  );

  it('keeps the rule in NameSchema, which every name form shares', () => {
    expect(NameSchema.safeParse('Ada\u202ELovelace').success).toBe(false);
    expect(NameSchema.safeParse('Ada Lovelace').success).toBe(true);
  });
});

describe('redirect after login', () => {
  const t = app();
  const email = uniqueEmail('next');
  beforeAll(async () => {
    await insertUser(t.db, { email });
  });

  const offSite = [
    '/.//evil.example',
    '/./\\evil.example',
    '/%2e//evil.example',
    '/%2E%2E//evil.example',
    '/..//evil.example',
    '/a/..//evil.example',
    '/.///evil.example',
    '//evil.example',
    '/\\evil.example',
  ];

  it.each(offSite)('safeNextPath refuses %j', (next) => {
    expect(safeNextPath(next)).toBeNull();
  });

  it.each([
    ['/dashboard?x=1#y', '/dashboard?x=1#y'],
    ['/referral/leaderboard?page=2', '/referral/leaderboard?page=2'],
    ['/a/../dashboard', '/dashboard'],
  ])('safeNextPath keeps the same-site path %j', (next, expected) => {
    expect(safeNextPath(next)).toBe(expected);
  });

  async function loginWithNext(next: string) {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/login');
    return agent.post('/auth/login').type('form').send({ email, password: STRONG_PASSWORD, next, _csrf });
  }

  it.each(offSite)('logs in with next=%j and lands on /dashboard, never on another host', async (next) => {
    const res = await loginWithNext(next);
    expect(res.status).toBe(303);
    expect(res.headers.location).not.toMatch(/^\/\/|^\/\\|^[a-z]+:/i);
    expect(res.headers.location).toBe('/dashboard');
  });

  it.each(offSite)('does not carry next=%j into the login form', async (next) => {
    const res = await t.request().get(`/auth/login?next=${encodeURIComponent(next)}`);
    expect(res.status).toBe(200);
    expect(inputValue(res.text, 'next') ?? '').toBe('');
  });

  it('still follows an ordinary same-site next, query and fragment included', async () => {
    const res = await loginWithNext('/dashboard?x=1#y');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard?x=1#y');
  });
});

/** Ranked users in tie groups of 1 to 41 (counts 60 down to 1): 1,268 users, 64 pages. */
function seedTieGroups(t: TestApp): Promise<void> {
  return t.database.transaction(async (tx) => {
    let n = 0;
    for (let score = 60; score >= 1; score--) {
      const size = 1 + ((score * 37) % 41);
      for (let i = 0; i < size; i++) {
        n += 1;
        // Five distinct times per group: the rest of each tie is broken by id.
        await insertUser(tx, { name: `R${n}`, referralsCount: score, lastReferralAt: new Date(Date.UTC(2026, 0, 1, 0, (n * 7) % 5)) });
      }
      if (score % 10 === 0) await insertUser(tx, { name: `Disabled ${score}`, referralsCount: score, status: 'disabled' });
    }
    // A score that lost its only user leaves a score_counts row with users = 0.
    const gone = await insertUser(tx, { name: 'Gone', referralsCount: 61 });
    await tx.update(users).set({ status: 'disabled' }).where(eq(users.id, gone.id));
  });
}

/** The ranking computed the obvious way, with competition ranks. */
async function bruteForce(t: TestApp) {
  const ranked = (await t.db.select().from(users))
    .filter((u) => u.status === 'active' && u.referralsCount > 0)
    .sort((a, b) => b.referralsCount - a.referralsCount || (a.lastReferralAt?.getTime() ?? 0) - (b.lastReferralAt?.getTime() ?? 0) || a.id - b.id);
  return ranked.map((u) => ({ rank: ranked.filter((o) => o.referralsCount > u.referralsCount).length + 1, name: u.name, referrals: u.referralsCount }));
}

interface ApiPage {
  totalPages: number;
  entries: { rank: number; name: string; referrals: number }[];
}

describe('typed leaderboard pages, found through score_counts', () => {
  const t = app();
  beforeAll(() => seedTieGroups(t));

  it('serves every typed page exactly as the brute-force ranking, pages that start mid-group or span groups included', async () => {
    const expected = await bruteForce(t);
    expect(expected).toHaveLength(1268);
    // Past page 50 (where pages are found through score_counts) some pages start inside a
    // tie group and some hold several groups.
    const deepStarts = [...Array(14).keys()].map((i) => (50 + i) * 20);
    expect(deepStarts.some((start) => expected[start - 1]!.referrals === expected[start]!.referrals)).toBe(true);
    expect(deepStarts.some((start) => new Set(expected.slice(start, start + 20).map((e) => e.referrals)).size > 2)).toBe(true);
    const first = (await t.request().get('/api/leaderboard?page=1')).body as ApiPage;
    expect(first.totalPages).toBe(64);
    for (let page = 1; page <= first.totalPages; page++) {
      const res = await t.request().get(`/api/leaderboard?page=${page}`);
      expect(res.status).toBe(200);
      expect((res.body as ApiPage).entries, `page ${page}`).toEqual(expected.slice((page - 1) * 20, page * 20));
    }
  });

  it('follows a change of the ranking at once: tie groups that grow, shrink or empty', async () => {
    expect((await t.request().get('/api/leaderboard?page=40')).status).toBe(200);
    // R1 drops from 60 to 1; half of the users on 59 and on 30 are disabled.
    await t.database.transaction((tx) => run(tx, "update users set referrals_count = 1 where name = 'R1'"));
    await t.database.transaction((tx) => run(tx, "update users set status = 'disabled' where referrals_count in (59, 30) and id % 2 = 0"));
    const expected = await bruteForce(t);
    const pages = Math.ceil(expected.length / 20);
    for (let page = 1; page <= pages; page++) {
      const res = await t.request().get(`/api/leaderboard?page=${page}`);
      expect((res.body as ApiPage).entries, `page ${page}`).toEqual(expected.slice((page - 1) * 20, page * 20));
    }
  });

  it('serves the same rows whether a deep page is typed or reached through its link', async () => {
    const agent = t.request();
    const typed = await agent.get('/referral/leaderboard?page=57');
    const next = /href="([^"]+)" rel="next"/.exec(typed.text)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toMatch(/page=58&cursor=/);
    const linked = await agent.get(next!);
    const rows = (html: string) => [...html.matchAll(/<td>(R\d+)<\/td>/g)].map((m) => m[1]);
    const typed58 = await t.request().get('/referral/leaderboard?page=58').set('Cookie', 'x=1');
    expect(rows(linked.text)).toHaveLength(20);
    expect(rows(linked.text)).toEqual(rows(typed58.text));
  });
});

describe('deep typed pages per client', () => {
  // Three deep typed pages a minute per client; TRUST_PROXY lets each test be its own client.
  const t = app({ RATE_DEEP_PAGE_PER_IP: '3', TRUST_PROXY: '1' });
  beforeAll(() => seedTieGroups(t));
  const from = (ip: string) => ({ get: (url: string) => t.request().get(url).set('X-Forwarded-For', ip) });

  it('answers 429 with Retry-After once a client has typed more deep pages than RATE_DEEP_PAGE_PER_IP', async () => {
    const client = from('203.0.113.1');
    expect((await client.get('/api/leaderboard?page=51')).status).toBe(200);
    expect((await client.get('/api/leaderboard?page=52')).status).toBe(200);
    expect((await client.get('/referral/leaderboard?page=53')).status).toBe(200);
    const api = await client.get('/api/leaderboard?page=54');
    expect(api.status).toBe(429);
    expect(Number(api.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(api.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(api.body.error).toMatch(/Too many/);
    const html = await client.get('/referral/leaderboard?page=55');
    expect(html.status).toBe(429);
    expect(html.headers['retry-after']).toBeDefined();
  });

  it('never limits pages 1 to 50, however often they are typed', async () => {
    const client = from('203.0.113.2');
    for (let i = 0; i < 3; i++) await client.get(`/api/leaderboard?page=${51 + i}`);
    expect((await client.get('/api/leaderboard?page=51')).status).toBe(429);
    for (let i = 0; i < 10; i++) expect((await client.get('/api/leaderboard?page=50')).status).toBe(200);
    expect((await client.get('/referral/leaderboard?page=1')).status).toBe(200);
    expect((await client.get('/referral/leaderboard?page=49')).status).toBe(200);
  });

  it('lets the prev/next links through at any depth once the budget is spent', async () => {
    const client = from('203.0.113.3');
    const page51 = await client.get('/referral/leaderboard?page=51').set('Cookie', 'x=1');
    expect(page51.status).toBe(200);
    for (let i = 0; i < 2; i++) await client.get(`/api/leaderboard?page=${52 + i}`);
    expect((await client.get('/api/leaderboard?page=54')).status).toBe(429);
    let href = /href="([^"]+)" rel="next"/.exec(page51.text)?.[1]?.replaceAll('&amp;', '&');
    for (let page = 52; page <= 56; page++) {
      expect(href).toContain(`page=${page}&cursor=`);
      const res = await client.get(href!);
      expect(res.status, `linked page ${page}`).toBe(200);
      href = /href="([^"]+)" rel="next"/.exec(res.text)?.[1]?.replaceAll('&amp;', '&');
    }
    const back = /href="([^"]+)" rel="prev"/.exec(page51.text)?.[1]?.replaceAll('&amp;', '&');
    expect((await client.get(back!)).status).toBe(200);
  });

  it('counts a link whose cursor is forged, or stale because the ranking changed, as typed', async () => {
    const client = from('203.0.113.4');
    const page51 = await client.get('/referral/leaderboard?page=51').set('Cookie', 'x=1');
    const next = /href="([^"]+)" rel="next"/.exec(page51.text)?.[1]?.replaceAll('&amp;', '&');
    expect((await client.get(`/api/leaderboard?page=52`)).status).toBe(200);
    expect((await client.get('/referral/leaderboard?page=53&cursor=Zm9yZ2VkLWN1cnNvci12YWx1ZS1mb3JnZWQ')).status).toBe(200);
    // The budget is spent; a change in the ranking makes the sealed link stale.
    await t.database.transaction((tx) => run(tx, "update users set referrals_count = referrals_count + 1 where name = 'R1'"));
    expect((await client.get(next!)).status).toBe(429);
  });

  it('gives every client its own budget', async () => {
    const spent = from('203.0.113.5');
    for (let i = 0; i < 3; i++) await spent.get(`/api/leaderboard?page=${51 + i}`);
    expect((await spent.get('/api/leaderboard?page=54')).status).toBe(429);
    expect((await from('203.0.113.6').get('/api/leaderboard?page=54')).status).toBe(200);
  });

  it('defaults RATE_DEEP_PAGE_PER_IP to 30 a minute', () => {
    expect(loadConfig({ SESSION_SECRET: 'x'.repeat(32) }).rateLimits.deepPagePerIp).toBe(30);
  });
});

describe('static assets', () => {
  const t = app();
  const assetUrls = (html: string) => [...html.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));

  it('links every asset of the public pages with a content version and serves it immutable for a year', async () => {
    for (const page of ['/', '/auth/login', '/auth/signup', '/referral/leaderboard']) {
      const urls = assetUrls((await t.request().get(page)).text);
      expect(urls.length, page).toBeGreaterThanOrEqual(3);
      for (const url of urls) {
        expect(url).toMatch(/\?v=[\w-]{16}$/);
        const res = await t.request().get(url);
        expect(res.status, url).toBe(200);
        expect(res.headers['cache-control'], url).toBe('public, max-age=31536000, immutable');
      }
    }
  });

  it('serves a version that is not the hash of the current file with a short cache only', async () => {
    const url = assetUrls((await t.request().get('/')).text).find((u) => u.startsWith('/static/css/app.css'))!;
    const stale = url.replace(/\?v=[\w-]+$/, '?v=AAAAAAAAAAAAAAAA');
    const res = await t.request().get(stale);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
  });

  it('still serves unversioned URLs, with a short cache', async () => {
    for (const url of ['/static/css/app.css', '/static/js/dashboard.js', '/static/vendor/pico/pico.min.css', '/static/favicon.svg']) {
      const res = await t.request().get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers['cache-control'], url).toBe('public, max-age=300');
    }
  });

  it('serves every asset the dashboard links to', async () => {
    const agent = t.request();
    expect((await signup(agent)).status).toBe(303);
    const dashboard = await agent.get('/dashboard');
    expect(dashboard.status).toBe(200);
    for (const url of assetUrls(dashboard.text)) expect((await t.request().get(url)).status, url).toBe(200);
  });

  it('keeps Cache-Control: no-store on pages, JSON and 404s', async () => {
    for (const url of ['/', '/auth/login', '/referral/leaderboard', '/api/leaderboard', '/static/nothing-here.css']) {
      expect((await t.request().get(url)).headers['cache-control'], url).toBe('no-store');
    }
  });

  it('derives the version from the content: changed bytes, a new URL; the same bytes, the same URL', async () => {
    const dir = tempDir('assets-');
    try {
      const file = path.join(dir, 'site.css');
      fs.writeFileSync(file, 'body { color: black }');
      const before = createAssets([{ prefix: '/static', dir }]);
      fs.writeFileSync(file, 'body { color: red }');
      const after = createAssets([{ prefix: '/static', dir }]);
      expect(after.url('/static/site.css')).not.toBe(before.url('/static/site.css'));
      // The restarted server no longer marks the old URL immutable: no stale file pinned for a year.
      const served = express().use(after.serve);
      const old = await supertest(served).get(before.url('/static/site.css'));
      expect(old.text).toBe('body { color: red }');
      expect(old.headers['cache-control']).toBe('public, max-age=300');
      const current = await supertest(served).get(after.url('/static/site.css'));
      expect(current.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      fs.writeFileSync(file, 'body { color: black }');
      expect(createAssets([{ prefix: '/static', dir }]).url('/static/site.css')).toBe(before.url('/static/site.css'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to link a file that does not exist, so a template typo fails loudly', () => {
    expect(() => createAssets().url('/static/css/missing.css')).toThrow(/No static asset/);
  });
});

describe('Permissions-Policy', () => {
  const t = app();

  it.each(['/', '/auth/signup', '/api/leaderboard', '/static/css/app.css', '/no-such-page'])('denies powerful features on %s', async (url) => {
    const header = String((await t.request().get(url)).headers['permissions-policy']);
    const policy = new Map(header.split(',').map((d) => d.trim().split('=') as [string, string]));
    for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb']) expect(policy.get(feature), feature).toBe('()');
    // The dashboard's copy button needs it on this origin, and only there.
    expect(policy.get('clipboard-write')).toBe('(self)');
  });
});
