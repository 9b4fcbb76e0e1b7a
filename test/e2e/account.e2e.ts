import fs from 'node:fs';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../helpers/server.js';
import { DESKTOP, expectHealthyPage, launchBrowser, newPage, PHONE, screenshot, signUpInBrowser, startAppServer, STRONG_PASSWORD } from './browser.js';

let browser: Browser;
let server: RunningServer;
let base: string;

beforeAll(async () => {
  server = await startAppServer({ CREDIT_ON: 'signup', FRAUD_SCREEN: 'off' });
  base = server.url;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (server) fs.rmSync(server.dir, { recursive: true, force: true });
});

/** One form of the account page, by where it posts. */
const formOf = (page: Page, action: string): Locator => page.locator(`form[action="${action}"]`);

/** Submits a form of the account page and waits for the redirect back to it. */
async function submit(page: Page, form: Locator, landing = '**/account'): Promise<void> {
  await Promise.all([page.waitForURL(landing), form.locator('button[type="submit"], button:not([type]), input[type="submit"]').first().click()]);
}

describe('the account page on a phone', () => {
  it('renames, shows initials on the leaderboard, sets a vanity code, offers the export and deletes the account', async () => {
    const { context, page, problems } = await newPage(browser, PHONE);
    await signUpInBrowser(page, base, { name: 'Nora Phone', email: 'nora@account.e2e.test' });

    // A friend joins with her code, so she is on the leaderboard.
    await page.goto(`${base}/dashboard`);
    const code = new URL(await page.locator('#referral-link').inputValue()).pathname.split('/r/')[1]!;
    const friend = await newPage(browser, DESKTOP);
    await signUpInBrowser(friend.page, base, { name: 'Felix Accountfriend', email: 'felix@account.e2e.test', code });
    await friend.context.close();

    expect((await page.goto(`${base}/account`))?.status()).toBe(200);
    await expectHealthyPage(page, problems, 'phone account');
    await screenshot(page, 'phone-account');

    // Rename.
    const nameForm = formOf(page, '/account/name');
    await nameForm.locator('[name="name"]').fill('Nina Phoneson');
    await submit(page, nameForm);
    await expect(page.getByRole('status').first().isVisible()).resolves.toBe(true);
    await expect(nameForm.locator('[name="name"]').inputValue()).resolves.toBe('Nina Phoneson');

    // Initials on the public leaderboard.
    const privacyForm = formOf(page, '/account/privacy');
    const select = privacyForm.locator('select[name="display"]');
    if ((await select.count()) > 0) await select.selectOption('initials');
    else await privacyForm.locator('input[name="display"][value="initials"]').check();
    await submit(page, privacyForm);
    const visitor = await newPage(browser, PHONE);
    await visitor.page.goto(`${base}/referral/leaderboard`);
    await expect(visitor.page.getByRole('cell', { name: 'Nina P.', exact: true }).isVisible()).resolves.toBe(true);
    await expect(visitor.page.content()).resolves.not.toContain('Phoneson');
    await visitor.context.close();

    // A vanity code, shown on the dashboard.
    await page.goto(`${base}/account`);
    const codeForm = formOf(page, '/account/code');
    await codeForm.locator('[name="code"]').fill('nina-2026');
    await submit(page, codeForm);
    await page.goto(`${base}/dashboard`);
    await expect(page.locator('#referral-link').inputValue()).resolves.toBe(`${base}/r/NINA-2026?src=copy`);

    // The export is offered (not downloaded here).
    await page.goto(`${base}/account`);
    await expect(page.locator('a[href="/account/export.json"]').count()).resolves.toBe(1);
    await expectHealthyPage(page, problems, 'phone account after changes');

    // Delete with the password, landing on the home page, logged out.
    page.on('dialog', (dialog) => void dialog.accept());
    const deleteForm = formOf(page, '/account/delete');
    // The form may sit behind a disclosure: open it as a person would.
    const disclosure = page.locator('details:has(form[action="/account/delete"]) > summary');
    if ((await disclosure.count()) > 0) await disclosure.click();
    await deleteForm.locator('[name="current_password"]').fill(STRONG_PASSWORD);
    await submit(page, deleteForm, `${base}/`);
    expect(new URL(page.url()).pathname).toBe('/');
    await page.goto(`${base}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/auth/login');
    expect(problems).toEqual([]);
    await context.close();
  });
});
