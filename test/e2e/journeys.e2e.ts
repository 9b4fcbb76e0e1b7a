import fs from 'node:fs';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';
import type { Browser, BrowserContextOptions } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../helpers/server.js';
import { verifyPathIn } from '../helpers/mailbox.js';
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
  // Webhooks go to a receiver in this process, on loopback.
  server = await startAppServer({ SMTP_URL: smtp.url, ADMIN_EMAILS: ADMIN_EMAIL, WEBHOOK_ALLOW_PRIVATE: 'true' });
  base = server.url.replace('127.0.0.1', '127.0.0.1');
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp.stop();
  if (server) fs.rmSync(server.dir, { recursive: true, force: true });
});

/** The code in a referral link (`…/r/CODE?src=copy`). */
const codeIn = (link: string) => new URL(link).pathname.split('/r/')[1]!;

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
    expect(link).toMatch(new RegExp(`^${base}/r/[0-9A-Z]{8}\\?src=copy$`));
    const code = codeIn(link);

    const friend = await newPage(browser, PHONE);
    await friend.page.goto(link);
    expect(new URL(friend.page.url()).pathname).toBe('/auth/signup');
    expect(await friend.page.getByLabel('Referral code (optional)').inputValue()).toBe(code);
    // Who invited them, as the leaderboard shows Rosa.
    await expect(friend.page.getByText('Rosa Referrer invited you').isVisible()).resolves.toBe(true);
    await expectHealthyPage(friend.page, friend.problems, 'phone sign-up');
    await screenshot(friend.page, 'phone-signup');
    await signUpInBrowser(friend.page, base, { name: 'Felix Friend', email: 'felix@e2e.test' });
    await expect(friend.page.getByRole('heading', { name: 'You are in!' }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(friend.page, friend.problems, 'phone sign-up success');
    await screenshot(friend.page, 'phone-signup-success');
    await friend.page
      .getByRole('button', { name: 'Go to your dashboard' })
      .or(friend.page.getByRole('link', { name: 'Go to your dashboard' }))
      .click();
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

      // This month's race: Rosa's friend joined today, so she leads it too.
      await page.getByRole('link', { name: /^This month/ }).click();
      await page.waitForURL(/period=month/);
      await expect(page.getByRole('link', { name: /^This month/ }).getAttribute('aria-current')).resolves.toBe('page');
      await expect(page.locator('tr.is-me').textContent()).resolves.toContain('Rosa Referrer');
      await expectHealthyPage(page, problems, `${label} this month's leaderboard`);
      if (label === 'phone') await screenshot(page, 'phone-leaderboard-month');
      await page.getByRole('link', { name: /^Last month/ }).click();
      await expect(page.locator('.empty-state').textContent()).resolves.toMatch(/No referral was credited in/);
      await expectHealthyPage(page, problems, `${label} last month's leaderboard`);
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
    const code = codeIn(await referralLinkOn(rosa.page));
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
    // The copy field's link says it was copied; each network's link names its network.
    expect(link).toMatch(/\?src=copy$/);
    const plain = link.replace('?src=copy', '');
    const networks = ['email', 'whatsapp', 'x', 'facebook', 'linkedin', 'telegram'];
    hrefs.forEach((href, i) => expect(decodeURIComponent(href)).toContain(`${plain}?src=${networks[i]}`));
    expect(hrefs.map((h) => (new URL(h).protocol === 'mailto:' ? 'mailto' : new URL(h).hostname))).toEqual([
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
        ['review', '/admin/review'],
      ] as const) {
        await page.goto(`${base}${path}`);
        await expectHealthyPage(page, problems, `${label} admin ${name}`);
        if (name === 'overview') {
          // The friend of the first journey came through Rosa's copied link: the funnel has that channel.
          await expect(page.getByRole('img', { name: /Referral funnel per channel/ }).isVisible()).resolves.toBe(true);
          await expect(page.locator('tr[data-channel="copy"] td').first().textContent()).resolves.toMatch(/^[1-9]/);
          await expect(page.locator('[data-stat="viral-all"]').textContent()).resolves.toMatch(/^\d+\.\d\d$/);
        }
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
    const anonymous = ['/', '/auth/signup', '/auth/login', '/auth/forgot', '/referral/leaderboard', '/no-such-page', '/auth/verify/not-a-token'];
    for (const path of anonymous) {
      await page.goto(`${base}${path}`);
      expect(await overflowsHorizontally(page), path).toBe(false);
    }
    await logInInBrowser(page, base, ADMIN_EMAIL);
    for (const path of ['/dashboard', '/admin', '/admin/users', '/admin/referrals', '/admin/rewards', '/admin/audit', '/admin/review']) {
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
    await page.goto(`${base}/auth/verify/not-a-token`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('This link no longer works');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await context.close();
  });
});

/**
 * Earned credit as shipped (CREDIT_ON=verified, fraud screen on), on a server of its own:
 * the suites above run the helper's credit-at-sign-up defaults. Every browser here reaches
 * the app from 127.0.0.1, which the screen would read as one network, so TRUST_PROXY lets
 * each context claim its own network through X-Forwarded-For (a header, not traffic).
 */
describe('earned credit on a phone', () => {
  const REVIEWER = 'reviewer@earned.test';
  let earned: RunningServer;
  let earnedBase: string;

  beforeAll(async () => {
    earned = await startAppServer({ SMTP_URL: smtp.url, ADMIN_EMAILS: REVIEWER, CREDIT_ON: 'verified', FRAUD_SCREEN: 'on', TRUST_PROXY: '1' });
    earnedBase = earned.url;
  });
  afterAll(async () => {
    await earned?.stop();
    if (earned) fs.rmSync(earned.dir, { recursive: true, force: true });
  });

  /** A browser on a network of its own (a /24 no other context in this block uses). */
  const from = (options: BrowserContextOptions, ip: string): BrowserContextOptions => ({ ...options, extraHTTPHeaders: { 'X-Forwarded-For': ip } });

  /** The confirmation link path from the welcome email to `address`, as sent over SMTP. */
  async function confirmationPathFor(address: string): Promise<string> {
    const mail = await smtp.waitFor((m) => m.to.toLowerCase() === address && /\/auth\/verify\//.test(m.text), 20_000);
    expect(mail.subject).toBe('Welcome! Confirm your email and get your referral link');
    const path = verifyPathIn(mail.text);
    // The absolute link points at this server's BASE_URL.
    expect(mail.text).toContain(`${earnedBase}${path}`);
    return path;
  }

  /** Opens a confirmation link in a new phone context: a mail app has no session. */
  async function confirmFromMailApp(path: string, ip: string): Promise<void> {
    const mailApp = await newPage(browser, from(PHONE, ip));
    await mailApp.page.goto(`${earnedBase}${path}`);
    expect(new URL(mailApp.page.url()).pathname).toBe('/auth/login');
    await expect(mailApp.page.getByRole('status').textContent()).resolves.toContain('Thank you! Your email address is confirmed.');
    await expectHealthyPage(mailApp.page, mailApp.problems, 'phone confirmed, logged out');
    await mailApp.context.close();
  }

  it('confirming an email from the link credits the referrer', async () => {
    // The referrer signs up and confirms their own address in the same browser (logged in: → dashboard).
    const referrer = await newPage(browser, from(DESKTOP, '203.0.113.10'));
    await signUpInBrowser(referrer.page, earnedBase, { name: 'Vera Verified', email: 'vera@earned.test' });
    const ownPath = await confirmationPathFor('vera@earned.test');
    await referrer.page.goto(`${earnedBase}${ownPath}`);
    expect(new URL(referrer.page.url()).pathname).toBe('/dashboard');
    await expect(referrer.page.getByRole('status').first().textContent()).resolves.toContain('Thank you! Your email address is confirmed.');
    await expect(referrer.page.locator('.verify-banner').count()).resolves.toBe(0);
    const link = await referralLinkOn(referrer.page);
    const code = codeIn(link);

    // The friend opens the link on their phone, signs up, and is asked to confirm.
    const friend = await newPage(browser, from(PHONE, '198.51.100.20'));
    await friend.page.goto(link);
    expect(new URL(friend.page.url()).pathname).toBe('/auth/signup');
    expect(await friend.page.getByLabel('Referral code (optional)').inputValue()).toBe(code);
    await signUpInBrowser(friend.page, earnedBase, { name: 'Finn Friend', email: 'finn@earned.test' });
    await friend.page.getByRole('button', { name: 'Go to your dashboard' }).click();
    await friend.page.waitForURL('**/dashboard');
    const banner = friend.page.getByRole('region', { name: 'Confirm your email address.' });
    await expect(banner.isVisible()).resolves.toBe(true);
    await expect(banner.textContent()).resolves.toContain('finn@earned.test');
    await expect(banner.getByRole('button', { name: 'Send a new link' }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(friend.page, friend.problems, 'phone dashboard with the confirmation banner');
    await screenshot(friend.page, 'phone-verify-banner');

    // Not counted yet: the referrer sees why.
    await referrer.page.reload();
    await expect(referrer.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('0');
    await expect(referrer.page.locator('[data-stat="pending"]').textContent()).resolves.toBe('1 waiting for your friend to confirm their email');
    const finnRow = referrer.page.getByRole('row', { name: /Finn Friend/ });
    await expect(finnRow.getByRole('cell', { name: 'Waiting for them to confirm their email' }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(referrer.page, referrer.problems, 'desktop dashboard with a pending referral');

    // The friend's welcome email arrives; they open its link in their phone's mail app.
    const friendPath = await confirmationPathFor('finn@earned.test');
    await confirmFromMailApp(friendPath, '198.51.100.20');

    // The referrer is credited, and nothing is waiting any more.
    await referrer.page.reload();
    await expect(referrer.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('1');
    await expect(referrer.page.locator('[data-stat="pending"]').count()).resolves.toBe(0);
    await expect(referrer.page.getByText(/waiting for your friend/).count()).resolves.toBe(0);
    await expect(finnRow.getByRole('cell', { name: 'Counted' }).isVisible()).resolves.toBe(true);
    await expect(referrer.page.locator('[data-stat="rank"]').textContent()).resolves.toBe('#1');
    expect(referrer.problems).toEqual([]);
    // The referrer is confirmed, so they are told by email too.
    await smtp.waitFor((m) => m.to.toLowerCase() === 'vera@earned.test' && m.subject === 'Finn Friend joined with your link', 20_000);

    // The friend's own browser no longer shows the banner.
    await friend.page.reload();
    await expect(friend.page.locator('.verify-banner').count()).resolves.toBe(0);

    // The link works once: a second opening explains and offers a way forward.
    const again = await newPage(browser, from(PHONE, '198.51.100.20'));
    const response = await again.page.goto(`${earnedBase}${friendPath}`);
    expect(response?.status()).toBe(400);
    await expect(again.page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('This link no longer works');
    const logIn = again.page.getByRole('main').getByRole('button', { name: 'Log in' });
    await expect(logIn.isVisible()).resolves.toBe(true);
    expect(new URL((await logIn.getAttribute('href'))!, earnedBase).pathname).toBe('/auth/login');
    // Chromium reports the 400 document in the console: expected here, and nothing else.
    expect(
      again.problems.every((p) => /status of 400/.test(p)),
      again.problems.join('\n'),
    ).toBe(true);
    again.problems.length = 0;
    await expectHealthyPage(again.page, again.problems, 'phone verify link used');
    await again.context.close();
    await referrer.context.close();
    await friend.context.close();
  });

  it('an admin approves a held referral on a phone', async () => {
    const referrer = await newPage(browser, from(DESKTOP, '203.0.113.30'));
    await signUpInBrowser(referrer.page, earnedBase, { name: 'Hana Holder', email: 'hana@earned.test' });
    await referrer.page.goto(`${earnedBase}${await confirmationPathFor('hana@earned.test')}`);
    const link = await referralLinkOn(referrer.page);

    // 1. A "friend" at the referrer's own address with a +tag, from another network and browser.
    const alias = await newPage(browser, from(PHONE, '198.51.100.40'));
    await alias.page.goto(link);
    await signUpInBrowser(alias.page, earnedBase, { name: 'Tagged Tom', email: 'hana+tom@earned.test' });
    await alias.context.close();
    await confirmFromMailApp(await confirmationPathFor('hana+tom@earned.test'), '198.51.100.40');

    // 2. A "friend" signing up in the referrer's own browser after logging out.
    await referrer.page.getByRole('button', { name: 'Log out' }).click();
    await referrer.page.waitForURL(`${earnedBase}/`);
    await referrer.page.goto(link);
    await signUpInBrowser(referrer.page, earnedBase, { name: 'Sofa Sam', email: 'sam@earned.test' });
    await referrer.page.getByRole('button', { name: 'Log out' }).click();
    await referrer.page.waitForURL(`${earnedBase}/`);
    await confirmFromMailApp(await confirmationPathFor('sam@earned.test'), '198.51.100.50');

    // Both are held: the referrer sees them under review, not counted.
    await logInInBrowser(referrer.page, earnedBase, 'hana@earned.test');
    await expect(referrer.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('0');
    await expect(referrer.page.locator('[data-stat="held"]').textContent()).resolves.toBe('2 under review');
    await expect(referrer.page.getByText(/email_alias|same_device/).count()).resolves.toBe(0);

    // The admin, on a phone, reviews them.
    const admin = await newPage(browser, from(PHONE, '192.0.2.60'));
    await signUpInBrowser(admin.page, earnedBase, { name: 'Rita Reviewer', email: REVIEWER });
    await admin.page.goto(`${earnedBase}/admin/review`);
    await expect(admin.page.getByRole('heading', { name: 'Review held referrals' }).isVisible()).resolves.toBe(true);
    const tomRow = admin.page.getByRole('article', { name: /Tagged Tom/ });
    const samRow = admin.page.getByRole('article', { name: /Sofa Sam/ });
    await expect(tomRow.locator('[data-reason]').evaluateAll((els) => els.map((e) => e.getAttribute('data-reason')))).resolves.toEqual(['email_alias']);
    await expect(samRow.locator('[data-reason]').evaluateAll((els) => els.map((e) => e.getAttribute('data-reason')).sort())).resolves.toEqual([
      'same_device',
      'same_network',
    ]);
    await expect(tomRow.locator('[data-reason="email_alias"]').isVisible()).resolves.toBe(true);
    await expectHealthyPage(admin.page, admin.problems, 'phone admin review');
    await screenshot(admin.page, 'phone-admin-review');
    await admin.page.setViewportSize({ width: 320, height: 640 });
    expect(await overflowsHorizontally(admin.page), '/admin/review at 320 px').toBe(false);
    await admin.page.setViewportSize({ width: 390, height: 844 });

    // Approve the alias by tapping its row's button.
    await tomRow.getByRole('button', { name: 'Approve the referral of Tagged Tom by Hana Holder' }).tap();
    await admin.page.locator('.flash', { hasText: '1 referral approved and credited.' }).waitFor();
    expect(new URL(admin.page.url()).pathname).toBe('/admin/review');
    await expect(admin.page.getByRole('article', { name: /Tagged Tom/ }).count()).resolves.toBe(0);
    await expectHealthyPage(admin.page, admin.problems, 'phone admin review after approving');

    // Reject the other one with its checkbox and the bulk button.
    await samRow.getByRole('checkbox').tap();
    await admin.page.getByRole('button', { name: 'Reject selected' }).tap();
    await admin.page.locator('.flash', { hasText: '1 referral rejected.' }).waitFor();
    await expect(admin.page.getByText('Nothing to review.').isVisible()).resolves.toBe(true);

    // The referrer's count is 1, on the admin's user page and on their own dashboard.
    await admin.page.goto(`${earnedBase}/admin/users?q=hana%40earned.test`);
    await admin.page.getByRole('link', { name: 'Hana Holder' }).click();
    await expect(
      admin.page
        .locator('dt', { hasText: /^Referrals$/ })
        .locator('xpath=following-sibling::dd[1]')
        .textContent(),
    ).resolves.toBe('1');
    expect(admin.problems).toEqual([]);
    await referrer.page.reload();
    await expect(referrer.page.locator('[data-stat="referrals"]').textContent()).resolves.toBe('1');
    await expect(referrer.page.locator('[data-stat="held"]').count()).resolves.toBe(0);
    await expect(
      referrer.page
        .getByRole('row', { name: /Tagged Tom/ })
        .getByRole('cell', { name: 'Counted' })
        .isVisible(),
    ).resolves.toBe(true);
    await expect(
      referrer.page
        .getByRole('row', { name: /Sofa Sam/ })
        .getByRole('cell', { name: 'Not counted' })
        .isVisible(),
    ).resolves.toBe(true);
    expect(referrer.problems).toEqual([]);
    await admin.context.close();
    await referrer.context.close();
  });
});

/** A webhook receiver on loopback that keeps every delivery. */
async function startReceiver() {
  const received: { body: string; headers: Record<string, string> }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
  return { url, received, close: () => new Promise<void>((resolve) => receiver.close(() => resolve())) };
}

describe('the integration API', () => {
  it('an operator makes a key and a webhook on a phone; a product participant opens their login link on a phone', async () => {
    const admin = await newPage(browser, PHONE);
    // The admin pages journey above made the admin account.
    await logInInBrowser(admin.page, base, ADMIN_EMAIL);
    await admin.page.goto(`${base}/admin/api-keys`);
    await expectHealthyPage(admin.page, admin.problems, 'phone api keys');
    await admin.page.getByLabel('Name (what uses it)').fill('Shop backend');
    await admin.page.getByLabel('Write: every route').check();
    await admin.page.getByRole('button', { name: 'Create key' }).click();
    const key = await admin.page.getByLabel('The write key').inputValue();
    expect(key).toMatch(/^rk_[A-Za-z0-9_-]{43}$/);
    await expectHealthyPage(admin.page, admin.problems, 'phone api key created');
    await screenshot(admin.page, 'phone-admin-api-key');

    const receiver = await startReceiver();
    await admin.page.goto(`${base}/admin/webhooks`);
    await expectHealthyPage(admin.page, admin.problems, 'phone webhooks');
    await admin.page.getByLabel('URL that receives the webhooks').fill(receiver.url);
    await admin.page.getByLabel('participant.created').check();
    await admin.page.getByRole('button', { name: 'Add endpoint' }).click();
    await admin.page.waitForURL(/\/admin\/webhooks\/\d+$/);
    const secret = await admin.page.locator('[data-secret]').textContent();
    expect(secret).toMatch(/^whsec_/);
    await expectHealthyPage(admin.page, admin.problems, 'phone webhook endpoint');

    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/api/v1/participants`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'shopper@e2e.test', name: 'Sam Shopper' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };

    // The participant.created webhook arrives, signed with the endpoint's secret, and the
    // endpoint's page logs the receiver's answer.
    for (let i = 0; i < 100 && receiver.received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(receiver.received).toHaveLength(1);
    const event = new Webhook(secret!).verify(receiver.received[0]!.body, receiver.received[0]!.headers) as { type: string; data: { id: number } };
    expect(event).toMatchObject({ type: 'participant.created', data: { id } });
    await admin.page.reload();
    await expect(admin.page.getByRole('cell', { name: '204' }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(admin.page, admin.problems, 'phone webhook delivery log');
    await screenshot(admin.page, 'phone-admin-webhook');
    await admin.context.close();
    await receiver.close();
    const link = (await (await fetch(`${base}/api/v1/participants/${id}/login-links`, { method: 'POST', headers })).json()) as { url: string };

    const shopper = await newPage(browser, PHONE);
    await shopper.page.goto(link.url);
    expect(new URL(shopper.page.url()).pathname).toBe('/dashboard');
    await expect(shopper.page.getByText('Sam Shopper').first().isVisible()).resolves.toBe(true);
    await expectHealthyPage(shopper.page, shopper.problems, 'phone dashboard from a login link');
    await shopper.page.goto(link.url);
    await expect(shopper.page.getByRole('heading', { name: 'This login link no longer works' }).isVisible()).resolves.toBe(true);
    await shopper.context.close();

    const docs = await newPage(browser, DESKTOP);
    await docs.page.goto(`${base}/api/v1/docs`);
    await expect(docs.page.getByRole('heading', { name: 'POST /participants', exact: true }).isVisible()).resolves.toBe(true);
    await expectHealthyPage(docs.page, docs.problems, 'api reference');
    await docs.context.close();
  });
});
