import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { projectRoot } from '../../src/paths.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { freePort } from '../helpers/net.js';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const SCREENSHOT_DIR = path.join(projectRoot, 'docs/screenshots');

export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 860 } };
export const NARROW: BrowserContextOptions = { viewport: { width: 320, height: 640 }, isMobile: true, hasTouch: true };

/** Debian's Chromium, headless, with the flags this closed network needs. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** The real server on a fixed port so BASE_URL (every absolute link) points at it. */
export async function startAppServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  return startServer({ PORT: String(port), BASE_URL: `http://127.0.0.1:${port}`, ...env });
}

/** Collects what would show a person something is broken: console errors, page errors, CSP violations. */
export function watchForProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

export async function newPage(browser: Browser, options: BrowserContextOptions): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  return { context, page, problems: watchForProblems(page) };
}

/**
 * Runs axe-core in the page (injected through the DevTools protocol, which the CSP does
 * not govern) and returns serious and critical violations.
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    return axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    );
}

/** True when the page is wider than the viewport (sideways scrolling). */
export async function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

/** The checks every page must pass: accessible, no sideways scroll, nothing broken in the console. */
export async function expectHealthyPage(page: Page, problems: string[], label: string): Promise<void> {
  expect(await seriousA11yViolations(page), `${label}: axe`).toEqual([]);
  expect(await overflowsHorizontally(page), `${label}: sideways scroll`).toBe(false);
  expect(problems, `${label}: console`).toEqual([]);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

export const STRONG_PASSWORD = 'correct horse battery staple';

export async function signUpInBrowser(page: Page, base: string, fields: { name: string; email: string; code?: string }): Promise<void> {
  if (!page.url().includes('/auth/signup')) await page.goto(`${base}/auth/signup`);
  await page.getByLabel('Your name').fill(fields.name);
  await page.getByLabel('Email').fill(fields.email);
  await page.getByLabel('Password').fill(STRONG_PASSWORD);
  if (fields.code !== undefined) await page.getByLabel('Referral code (optional)').fill(fields.code);
  await Promise.all([page.waitForURL('**/auth/signup/success'), page.getByRole('button', { name: 'Create account' }).click()]);
}

export async function logInInBrowser(page: Page, base: string, email: string, password = STRONG_PASSWORD): Promise<void> {
  await page.goto(`${base}/auth/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/auth/login')), page.getByRole('button', { name: 'Log in' }).click()]);
}
