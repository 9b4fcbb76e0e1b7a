import { eq } from 'drizzle-orm';
import type { Config } from '../../config.js';
import { users, type Referral, type User } from '../../db/schema.js';
import type { Tx } from '../referral/referral.repository.js';
import { RESET_TOKEN_TTL_MS } from '../auth/auth.constants.js';
import type { MailData, MailKind, MailTemplates } from './mail.templates.js';
import { enqueueInTx } from './outbox.repository.js';

/**
 * The emails each event writes into the outbox. Every function takes the event's
 * transaction: if the event rolls back, its email was never queued; if it commits, the
 * email will be delivered. Links are built from BASE_URL only.
 */
export function createNotifications(deps: { templates: MailTemplates; config: Pick<Config, 'baseUrl'> }) {
  const { templates, config } = deps;
  const domain = new URL(config.baseUrl).hostname || 'localhost';
  const url = (path: string) => `${config.baseUrl}${path}`;

  function queue<K extends MailKind>(tx: Tx, kind: K, to: string, data: MailData[K], now: Date): void {
    enqueueInTx(tx, { ...templates.render(kind, data), kind, to, now, domain });
  }

  /** "<friend> joined with your link", unless the referrer turned these off. */
  function referralJoined(tx: Tx, referral: Referral): void {
    const referrer = tx.select().from(users).where(eq(users.id, referral.referrerId)).get();
    const friend = tx.select({ name: users.name }).from(users).where(eq(users.id, referral.referredUserId)).get();
    if (!referrer || !friend || !referrer.notifyReferrals) return;
    queue(
      tx,
      'referral_joined',
      referrer.email,
      { name: referrer.name, friendName: friend.name, total: referrer.referralsCount, dashboardUrl: url('/dashboard') },
      referral.createdAt,
    );
  }

  return {
    referralJoined,

    welcome(tx: Tx, user: User): void {
      queue(
        tx,
        'welcome',
        user.email,
        { name: user.name, code: user.referralCode, link: url(`/r/${user.referralCode}`), dashboardUrl: url('/dashboard') },
        user.createdAt,
      );
    },

    passwordReset(tx: Tx, user: Pick<User, 'name' | 'email'>, token: string, now: Date): void {
      queue(
        tx,
        'password_reset',
        user.email,
        { name: user.name, resetUrl: url(`/auth/reset/${token}`), expiresMinutes: RESET_TOKEN_TTL_MS / 60_000, forgotUrl: url('/auth/forgot') },
        now,
      );
    },

    passwordChanged(tx: Tx, user: Pick<User, 'name' | 'email'>, now: Date): void {
      queue(
        tx,
        'password_changed',
        user.email,
        { name: user.name, forgotUrl: url('/auth/forgot'), changedAt: `${now.toISOString().slice(0, 16).replace('T', ' ')} UTC` },
        now,
      );
    },

    rewardEarned(tx: Tx, user: Pick<User, 'name' | 'email'>, reward: { name: string; description: string; threshold: number }, now: Date): void {
      queue(
        tx,
        'reward_earned',
        user.email,
        { name: user.name, rewardName: reward.name, rewardDescription: reward.description, threshold: reward.threshold, dashboardUrl: url('/dashboard') },
        now,
      );
    },
  };
}

export type Notifications = ReturnType<typeof createNotifications>;
