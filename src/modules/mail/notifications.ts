import { and, eq } from 'drizzle-orm';
import { utcMinute } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Tx } from '../../db/client.js';
import { users, type Referral, type User } from '../../db/schema.js';
import { EMAIL_CHANGE_TTL_MS, RESET_TOKEN_TTL_MS, VERIFY_TOKEN_TTL_MS } from '../users/users.constants.js';
import { DEFAULT_SETTINGS, type ProgramSettings } from '../settings/settings.schemas.js';
import type { MailData, MailKind, MailTemplates, RenderedMail } from './mail.templates.js';
import { enqueueInTx } from './outbox.repository.js';

/** Who a message goes to, and whether that address has been confirmed. */
export type Recipient = Pick<User, 'name' | 'email' | 'emailVerifiedAt'>;

/**
 * The only messages an unconfirmed address receives: the confirmation itself (welcome,
 * verify_email, email_change to a new address), the password reset, which proves control
 * of the mailbox anyway, and the notice that the address was replaced (email_changed),
 * which its owner must get even if they never confirmed it.
 * Anything else could be read by a stranger whose address was typed by mistake.
 */
const SENT_UNCONFIRMED: ReadonlySet<MailKind> = new Set<MailKind>(['welcome', 'verify_email', 'password_reset', 'email_change', 'email_changed']);

/** A rendered message waiting for the transaction of the event that sends it. */
export interface PreparedMail extends RenderedMail {
  kind: MailKind;
  to: string;
}

/**
 * The emails each event writes into the outbox. Every function takes the event's
 * transaction: if the event rolls back, its email was never queued; if it commits, the
 * email will be delivered. Links are built from BASE_URL only.
 */
export function createNotifications(deps: {
  templates: MailTemplates;
  config: Pick<Config, 'baseUrl'>;
  /** The program settings as this worker knows them now (emails render synchronously); defaults when absent. */
  program?: () => ProgramSettings;
}) {
  const { templates, config } = deps;
  const program = deps.program ?? (() => DEFAULT_SETTINGS);
  const domain = new URL(config.baseUrl).hostname || 'localhost';
  const url = (path: string) => `${config.baseUrl}${path}`;
  const verifyHours = VERIFY_TOKEN_TTL_MS / 3_600_000;

  /** Renders outside any transaction (rendering is the slow part). Null: not to be sent. */
  function prepare<K extends MailKind>(kind: K, to: Recipient, data: MailData[K]): PreparedMail | null {
    if (to.emailVerifiedAt === null && !SENT_UNCONFIRMED.has(kind)) return null;
    return { ...templates.render(kind, data, program()), kind, to: to.email };
  }

  async function queueInTx(tx: Tx, mail: PreparedMail | null, now: Date): Promise<void> {
    if (mail) await enqueueInTx(tx, { ...mail, now, domain });
  }

  /** "<friend> joined with your link", unless the referrer turned these off. */
  async function referralJoined(tx: Tx, referral: Referral): Promise<void> {
    const [referrer] = await tx.select().from(users).where(eq(users.id, referral.referrerId)).limit(1);
    const [friend] = await tx.select({ name: users.name }).from(users).where(eq(users.id, referral.referredUserId)).limit(1);
    if (!referrer || !friend || !referrer.notifyReferrals) return;
    const mail = prepare('referral_joined', referrer, {
      name: referrer.name,
      friendName: friend.name,
      total: referrer.referralsCount,
      dashboardUrl: url('/dashboard'),
    });
    await queueInTx(tx, mail, referral.creditedAt ?? referral.createdAt);
  }

  return {
    queueInTx,
    referralJoined,

    /**
     * The first email: the referral link and, until the address is confirmed, the link that
     * confirms it. `invited`: the person joined through someone's link, so the friend offer is theirs.
     */
    welcome: (user: Recipient & Pick<User, 'referralCode'>, verifyToken: string | null, invited = false) =>
      prepare('welcome', user, {
        name: user.name,
        code: user.referralCode,
        link: url(`/r/${user.referralCode}`),
        dashboardUrl: url('/dashboard'),
        verifyUrl: verifyToken ? url(`/auth/verify/${verifyToken}`) : null,
        verifyHours,
        invited,
      }),

    verifyEmail: (user: Recipient, token: string) => prepare('verify_email', user, { name: user.name, verifyUrl: url(`/auth/verify/${token}`), verifyHours }),

    passwordReset: (user: Recipient, token: string) =>
      prepare('password_reset', user, {
        name: user.name,
        resetUrl: url(`/auth/reset/${token}`),
        expiresMinutes: RESET_TOKEN_TTL_MS / 60_000,
        forgotUrl: url('/auth/forgot'),
      }),

    /** `otherDevicesOnly`: changed on the account page, which keeps the device that changed it logged in. */
    passwordChanged: (user: Recipient, now: Date, otherDevicesOnly = false) =>
      prepare('password_changed', user, {
        name: user.name,
        forgotUrl: url('/auth/forgot'),
        changedAt: utcMinute(now),
        otherDevicesOnly,
      }),

    /** The link that makes an email change happen, to the new address (which it confirms). */
    emailChange: (user: Pick<User, 'name'>, newEmail: string, token: string) =>
      prepare(
        'email_change',
        { name: user.name, email: newEmail, emailVerifiedAt: null },
        {
          name: user.name,
          newEmail,
          confirmUrl: url(`/account/email/confirm/${token}`),
          expiresHours: EMAIL_CHANGE_TTL_MS / 3_600_000,
        },
      ),

    /** The notice to the old address once the change happened. */
    emailChanged: (old: Recipient, newEmail: string, now: Date) =>
      prepare('email_changed', old, {
        name: old.name,
        newEmail,
        changedAt: utcMinute(now),
      }),

    async rewardEarned(tx: Tx, user: Recipient, reward: { name: string; description: string; threshold: number }, now: Date): Promise<void> {
      const mail = prepare('reward_earned', user, {
        name: user.name,
        rewardName: reward.name,
        rewardDescription: reward.description,
        threshold: reward.threshold,
        dashboardUrl: url('/dashboard'),
      });
      await queueInTx(tx, mail, now);
    },

    /** Tells every active admin that a webhook endpoint was disabled, in the transaction that disabled it. */
    async webhookDisabled(tx: Tx, endpoint: { id: number; url: string; failingSince: Date; lastError: string }, now: Date): Promise<void> {
      const admins = await tx
        .select()
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.status, 'active')));
      for (const admin of admins) {
        const mail = prepare('webhook_disabled', admin, {
          name: admin.name,
          url: endpoint.url,
          failingSince: utcMinute(endpoint.failingSince),
          lastError: endpoint.lastError.slice(0, 200),
          endpointUrl: url(`/admin/webhooks/${endpoint.id}`),
        });
        await queueInTx(tx, mail, now);
      }
    },
  };
}

export type Notifications = ReturnType<typeof createNotifications>;
