import path from 'node:path';
import nunjucks from 'nunjucks';
import { viewsDir } from '../../paths.js';

/** Every email the system sends, with the data its templates need. */
export interface MailData {
  welcome: { name: string; code: string; link: string; dashboardUrl: string; verifyUrl: string | null; verifyHours: number };
  verify_email: { name: string; verifyUrl: string; verifyHours: number };
  referral_joined: { name: string; friendName: string; total: number; dashboardUrl: string };
  password_reset: { name: string; resetUrl: string; expiresMinutes: number; forgotUrl: string };
  password_changed: { name: string; forgotUrl: string; changedAt: string; otherDevicesOnly: boolean };
  email_change: { name: string; newEmail: string; confirmUrl: string; expiresHours: number };
  email_changed: { name: string; newEmail: string; changedAt: string };
  reward_earned: { name: string; rewardName: string; rewardDescription: string; threshold: number; dashboardUrl: string };
  webhook_disabled: { name: string; url: string; failingSince: string; lastError: string; endpointUrl: string };
}
export type MailKind = keyof MailData;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const subjects: { [K in MailKind]: (d: MailData[K]) => string } = {
  welcome: (d) => (d.verifyUrl ? 'Welcome! Confirm your email and get your referral link' : 'Welcome! Here is your referral link'),
  verify_email: () => 'Confirm your email address',
  referral_joined: (d) => `${d.friendName} joined with your link`,
  password_reset: () => 'Reset your password',
  password_changed: () => 'Your password was changed',
  email_change: () => 'Confirm your new email address',
  email_changed: () => 'Your email address was changed',
  reward_earned: (d) => `You earned a reward: ${d.rewardName}`,
  webhook_disabled: () => 'A webhook endpoint was disabled',
};

/**
 * Renders both parts of a message from views/mail/<kind>.{txt,html}.njk. The HTML
 * environment escapes; the text one must not (it is not HTML), and names cannot carry
 * control characters, so neither part can be used to inject headers or markup.
 */
export function createMailTemplates() {
  const loader = new nunjucks.FileSystemLoader(path.join(viewsDir, 'mail'));
  const html = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: true });
  const text = new nunjucks.Environment(loader, { autoescape: false, throwOnUndefined: true });
  return {
    render<K extends MailKind>(kind: K, data: MailData[K]): RenderedMail {
      return {
        subject: subjects[kind](data),
        text: text.render(`${kind}.txt.njk`, data),
        html: html.render(`${kind}.html.njk`, data),
      };
    },
  };
}

export type MailTemplates = ReturnType<typeof createMailTemplates>;
