import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../helpers/server.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import {
  DESKTOP,
  expectHealthyPage,
  launchBrowser,
  logInInBrowser,
  NARROW,
  newPage,
  overflowsHorizontally,
  PHONE,
  screenshot,
  seriousA11yViolations,
  signUpInBrowser,
  startAppServer,
  STRONG_PASSWORD,
} from './browser.js';

const ADMIN_EMAIL = 'admin@e2e.test';
let browser: Browser;
let server: RunningServer;
let base: string;
const smtp = new TestSmtpServer();

beforeAll(async () => {
  await smtp.start();
  server = await startAppServer({ SMTP_URL: smtp.url, ADMIN_EMAILS: ADMIN_EMAIL });
  base = server.url.replace('127.0.0.1', '127.0.0.1');
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp.stop();
  if (server) fs.rmSync(server.dir, { recursive: true, force: true });
});

/** The referral link shown on the dashboard of the page's logged-in user. */
async function referralLinkOn(page: import('playwright-core').Page): Promise<string> {
  return page.locator('#referral-link').inputValue();
}

describe('the referral journey', () => {
  it('a friend opens a link on a phone, signs up, and the referrer sees the new count', async () => {
    const referrer = await newPage(browser, DESKTOP);
    await signUpInBrowser(referrer.page, base, { name: 'Rosa Referrer', email: 'rosa@e2e.test' });
    await screenshot(referrer.page, 'desktop-signup-success');
    await referrer.page.goto(`${base}/dashboard`);
    const link = await referralLinkOn(referrer.page);
    expect(link).toMatch(new RegExp(`^${base}/r/[0-9A-Z]{8}$`));
    const code = link.slice(-8);

    const friend = await newPage(browser, PHONE);
    await friend.page.goto(link);
    expect(new URL(friend.page.url()).pathname).toBe('/auth/signup');
    expect(await friend.page.getByLabel('Referral code (optional)').inputValue()).toBe(code);
    await expectHealthyPage(friend.page, friend.problems, 'phone sign-up');
    await screenshot(friend.page, 'phone-signup');
    await signUpInBrowser(friend.page, base, { name: 'Felix Friend', email: 'felix@e2e.test' });
    await expect(friend.page.getByRole('heading', { name: 'You are in!' }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(friend.page, friend.problems, 'phone sign-up success');
    await screenshot(friend.page, 'phone-signup-success');
    await friend.page.getByRole('button', { name: 'Go to your dashboard' }).or(friend.page.getByRole('link', { name: 'Go to your dashboard' })).click();
    await friend.page.waitForURL('**/dashboard');
    await expectHealthyPage(friend.page, friend.problems, 'phone dashboard');
    await screenshot(friend.page, 'phone-dashboard');

    await referrer.page.reload();
    await expect(referrer.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('1');
    await expect(referrer.page.getByRole('cell', { name: 'Felix Friend' }).isVisible()).resolves.toBe(true);
    await expect(referrer.page.locator('[data-stat="rank"]').textContent()).resolves.toBe('#1');
    await expectHealthyPage(referrer.page, referrer.problems, 'desktop dashboard');
    await screenshot(referrer.page, 'desktop-dashboard');
    await referrer.context.close();
    await friend.context.close();
  });

  it('shows the leaderboard with the logged-in user highlighted, on a phone and a desktop', async () => {
    for (const [label, options] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const { context, page, problems } = await newPage(browser, options);
      await logInInBrowser(page, base, 'rosa@e2e.test');
      await page.goto(`${base}/referral/leaderboard`);
      const mine = page.locator('tr.is-me');
      await expect(mine.count()).resolves.toBe(1);
      await expect(mine.textContent()).resolves.toContain('Rosa Referrer');
      await expectHealthyPage(page, problems, `${label} leaderboard`);
      await screenshot(page, `${label}-leaderboard`);
      await context.close();
    }
  });

  it('home page shows the top referrers', async () => {
    for (const [label, options] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const { context, page, problems } = await newPage(browser, options);
      await page.goto(base);
      await expect(page.getByRole('cell', { name: 'Rosa Referrer' }).isVisible()).resolves.toBe(true);
      await expectHealthyPage(page, problems, `${label} home`);
      await screenshot(page, `${label}-home`);
      await context.close();
    }
  });

  it('logs in and out', async () => {
    const { context, page, problems } = await newPage(browser, PHONE);
    await page.goto(`${base}/auth/login`);
    await expectHealthyPage(page, problems, 'login');
    await screenshot(page, 'phone-login');
    await page.getByLabel('Email').fill('rosa@e2e.test');
    await page.getByLabel('Password').fill('wrong password here');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('The email or password is incorrect.');
    // A failed login answers 401, which Chromium reports in the console: expected here.
    problems.length = 0;
    await logInInBrowser(page, base, 'rosa@e2e.test');
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/`);
    await expect(page.getByRole('status').textContent()).resolves.toContain('You are logged out.');
    await page.goto(`${base}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/auth/login');
    await context.close();
  });

  it('applies a referral code from the dashboard', async () => {
    const { context, page, problems } = await newPage(browser, PHONE);
    await signUpInBrowser(page, base, { name: 'Late Lena', email: 'lena@e2e.test' });
    await page.goto(`${base}/dashboard`);
    const rosa = await newPage(browser, DESKTOP);
    await logInInBrowser(rosa.page, base, 'rosa@e2e.test');
    const code = (await referralLinkOn(rosa.page)).slice(-8);
    await page.getByLabel('Their referral code').fill(code.toLowerCase());
    await page.getByRole('button', { name: 'Apply code' }).click();
    await page.waitForURL('**/dashboard');
    await expect(page.getByRole('status').first().textContent()).resolves.toContain('Rosa Referrer has been credited');
    await expect(page.getByLabel('Their referral code').count()).resolves.toBe(0);
    expect(problems).toEqual([]);
    await rosa.page.reload();
    await expect(rosa.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('2');
    await rosa.context.close();
    await context.close();
  });

  it('resets a forgotten password with the emailed link', async () => {
    const { context, page, problems } = await newPage(browser, PHONE);
    await page.goto(`${base}/auth/forgot`);
    await expectHealthyPage(page, problems, 'forgot');
    await page.getByLabel('Email').fill('felix@e2e.test');
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.waitForURL('**/auth/login');
    await expect(page.getByRole('status').textContent()).resolves.toContain('If an account exists');
    const mail = await smtp.waitFor((m) => m.to.includes('felix@e2e.test') && /reset/i.test(m.subject), 20_000);
    const link = /http:\/\/127\.0\.0\.1:\d+\/auth\/reset\/[\w-]+/.exec(mail.text)![0];
    await page.goto(link);
    await expectHealthyPage(page, problems, 'reset');
    await screenshot(page, 'phone-reset');
    await page.getByLabel('New password').fill('my fresh new passphrase');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.waitForURL('**/auth/login');
    await expect(page.getByRole('status').textContent()).resolves.toContain('Your password has been changed');
    await logInInBrowser(page, base, 'felix@e2e.test', 'my fresh new passphrase');
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    await context.close();
  });
});

describe('dashboard sharing', () => {
  it('copies the link with the copy button, shows a labelled QR code and plain share links', async () => {
    const { context, page, problems } = await newPage(browser, { ...DESKTOP, permissions: ['clipboard-read', 'clipboard-write'] });
    await logInInBrowser(page, base, 'rosa@e2e.test');
    const link = await referralLinkOn(page);
    const copy = page.getByRole('button', { name: 'Copy link' });
    await expect(copy.isVisible()).resolves.toBe(true);
    await copy.click();
    // The message appears when the clipboard promise settles.
    await page.locator('.copy-status', { hasText: 'Link copied to the clipboard.' }).waitFor({ timeout: 5000 });
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(link);

    const qr = page.getByRole('img', { name: 'QR code of your referral link' });
    await expect(qr.isVisible()).resolves.toBe(true);
    const download = await page.request.get(`${base}/dashboard/qr.svg`);
    expect(download.headers()['content-type']).toContain('image/svg+xml');
    expect(download.headers()['content-disposition']).toContain('attachment');

    const hrefs = await page.locator('.share-links a').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(hrefs).toHaveLength(6);
    for (const href of hrefs) expect(decodeURIComponent(href)).toContain(link);
    expect(hrefs.map((h) => new URL(h).protocol === 'mailto:' ? 'mailto' : new URL(h).hostname)).toEqual([
      'mailto',
      'wa.me',
      'x.com',
      'www.facebook.com',
      'www.linkedin.com',
      't.me',
    ]);
    // No script from anywhere but this origin.
    const scripts = await page.locator('script[src]').evaluateAll((s) => s.map((e) => (e as HTMLScriptElement).src));
    for (const src of scripts) expect(src.startsWith(base)).toBe(true);
    await expect(page.getByRole('img', { name: /Your referrals per day/ }).isVisible()).resolves.toBe(true);
    await expect(page.locator('progress').count()).resolves.toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('without JavaScript', () => {
  it('signs up, reaches the dashboard, and hides the copy button', async () => {
    const { context, page } = await newPage(browser, { ...PHONE, javaScriptEnabled: false });
    await signUpInBrowser(page, base, { name: 'No Script Nora', email: 'nora@e2e.test' });
    await page.goto(`${base}/dashboard`);
    await expect(page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('0');
    await expect(page.getByRole('button', { name: 'Copy link' }).isVisible()).resolves.toBe(false);
    await expect(page.getByRole('img', { name: 'QR code of your referral link' }).isVisible()).resolves.toBe(true);
    await context.close();
  });

  it('shows field errors next to the fields', async () => {
    const { context, page } = await newPage(browser, { ...PHONE, javaScriptEnabled: false });
    await page.goto(`${base}/auth/signup`);
    await page.getByLabel('Your name').fill('Shorty');
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const email = page.getByLabel('Email');
    await expect(email.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(email.getAttribute('aria-describedby')).resolves.toContain('e-email');
    await expect(page.locator('#e-password').textContent()).resolves.toContain('at least 8 characters');
    await expect(email.inputValue()).resolves.toBe('not-an-email');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');
    // (axe needs JavaScript; the same form is audited with it in the journeys above.)
    await context.close();
  });
});

describe('admin pages', () => {
  it('are accessible and readable on a phone and a desktop', async () => {
    const setup = await newPage(browser, DESKTOP);
    await signUpInBrowser(setup.page, base, { name: 'Ada Admin', email: ADMIN_EMAIL });
    await setup.context.close();
    for (const [label, options] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const { context, page, problems } = await newPage(browser, options);
      await logInInBrowser(page, base, ADMIN_EMAIL);
      for (const [name, path] of [
        ['overview', '/admin'],
        ['users', '/admin/users'],
        ['referrals', '/admin/referrals'],
        ['rewards', '/admin/rewards'],
        ['audit', '/admin/audit'],
      ] as const) {
        await page.goto(`${base}${path}`);
        await expectHealthyPage(page, problems, `${label} admin ${name}`);
        if (name === 'overview' || name === 'users') await screenshot(page, `${label}-admin-${name}`);
      }
      await page.goto(`${base}/admin/users?q=rosa`);
      await page.getByRole('link', { name: 'Rosa Referrer' }).click();
      await expectHealthyPage(page, problems, `${label} admin user`);
      if (label === 'desktop') await screenshot(page, 'desktop-admin-user');
      await context.close();
    }
  });
});

describe('every page at 320 px and by keyboard', () => {
  it('has no sideways scrolling at 320 px wide', async () => {
    const { context, page } = await newPage(browser, NARROW);
    const anonymous = ['/', '/auth/signup', '/auth/login', '/auth/forgot', '/referral/leaderboard', '/no-such-page'];
    for (const path of anonymous) {
      await page.goto(`${base}${path}`);
      expect(await overflowsHorizontally(page), path).toBe(false);
    }
    await logInInBrowser(page, base, ADMIN_EMAIL);
    for (const path of ['/dashboard', '/admin', '/admin/users', '/admin/referrals', '/admin/rewards', '/admin/audit']) {
      await page.goto(`${base}${path}`);
      expect(await overflowsHorizontally(page), path).toBe(false);
    }
    await context.close();
  });

  it('reaches the skip link first and shows where focus is', async () => {
    const { context, page } = await newPage(browser, DESKTOP);
    await page.goto(`${base}/auth/login`);
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => ({ text: document.activeElement?.textContent, outline: getComputedStyle(document.activeElement!).outlineStyle }));
    expect(first.text).toBe('Skip to content');
    expect(first.outline).not.toBe('none');
    await page.keyboard.press('Enter');
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.id === 'f-email')) break;
    }
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('f-email');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.type('rosa@e2e.test');
    await page.keyboard.press('Tab');
    await page.keyboard.type(STRONG_PASSWORD);
    await Promise.all([page.waitForURL('**/dashboard'), page.keyboard.press('Enter')]);
    await context.close();
  });

  it('has no serious accessibility problem on the error pages', async () => {
    const { context, page } = await newPage(browser, PHONE);
    await page.goto(`${base}/no-such-page`);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.goto(`${base}/auth/reset/not-a-token`);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await context.close();
  });
});
