import path from 'node:path';
import nunjucks from 'nunjucks';
import { viewsDir } from '../../paths.js';
import { DEFAULT_SETTINGS, type ProgramSettings } from '../settings/settings.schemas.js';

/** Every email the system sends, with the data its templates need. */
export interface MailData {
  /** `invited`: the person joined through someone's link (the friend offer then reads as theirs). */
  welcome: { name: string; code: string; link: string; dashboardUrl: string; verifyUrl: string | null; verifyHours: number; invited: boolean };
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
 * Renders both parts of a message from views/mail/<kind>.{txt,html}.njk, with the program
 * settings as `program` (its name and support address in every message, the friend offer
 * in the welcome). The HTML environment escapes; the text one must not (it is not HTML),
 * and neither names nor settings can carry control characters, so neither part can be
 * used to inject headers or markup. Every text part ends with views/mail/_footer.txt.njk,
 * as every HTML part ends with its layout's footer.
 */
export function createMailTemplates() {
  const loader = new nunjucks.FileSystemLoader(path.join(viewsDir, 'mail'));
  const html = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: true });
  const text = new nunjucks.Environment(loader, { autoescape: false, throwOnUndefined: true });
  return {
    render<K extends MailKind>(kind: K, data: MailData[K], program: ProgramSettings = DEFAULT_SETTINGS): RenderedMail {
      const context = { ...data, program };
      return {
        subject: subjects[kind](data),
        text: `${text.render(`${kind}.txt.njk`, context).trimEnd()}\n\n${text.render('_footer.txt.njk', context).trim()}\n`,
        html: html.render(`${kind}.html.njk`, context),
      };
    },
  };
}

export type MailTemplates = ReturnType<typeof createMailTemplates>;
