import type { Clock } from '../../clock.js';
import type { Database } from '../../db/database.js';
import { uniqueViolation } from '../../db/errors.js';
import type { LeaderboardDisplay, User } from '../../db/schema.js';
import { AppError, badRequest } from '../../errors.js';
import type { PasswordHasher } from '../auth/password-hasher.js';
import { normalizeEmail } from '../users/users.schemas.js';
import type { Notifications } from '../mail/notifications.js';
import type { ReferralRepository } from '../referral/referral.repository.js';
import type { RewardsRepository } from '../rewards/rewards.repository.js';
import { hashToken, newToken, TOKEN_SHAPE } from '../users/tokens.js';
import { CODE_CHANGE_EVERY_MS, EMAIL_CHANGE_TTL_MS } from '../users/users.constants.js';
import type { UserRepository } from '../users/users.repository.js';

export const WRONG_PASSWORD = 'That is not your current password.';
export const EMAIL_IN_USE = 'Another account uses this email address.';
export const CODE_TAKEN = 'That code is taken (or was someone’s before). Choose another.';

export interface AccountDeps {
  database: Database;
  users: UserRepository;
  referrals: ReferralRepository;
  rewards: RewardsRepository;
  hasher: PasswordHasher;
  notifications: Notifications;
  clock: Clock;
  config: { baseUrl: string };
}

/**
 * What a person does with their own account: name, email (by a link to the new address),
 * password, leaderboard display, a chosen code, their data, and leaving. Each change is
 * one transaction; forms that could hand the account to someone else ask for the current
 * password first.
 */
export function createAccountService(deps: AccountDeps) {
  const { database, users, hasher, notifications, clock } = deps;

  /** The current password, or a 401 on the form's current_password field. */
  async function checkPassword(user: User, password: string): Promise<void> {
    if (!(await hasher.verify(password, user.passwordHash))) {
      throw new AppError(401, WRONG_PASSWORD, { code: 'wrong_password', field: 'current_password' });
    }
  }

  async function rename(user: User, name: string): Promise<void> {
    await database.transaction((tx) => users.setNameInTx(tx, user.id, name));
  }

  async function setDisplay(user: User, display: LeaderboardDisplay): Promise<void> {
    await database.transaction((tx) => users.setDisplayInTx(tx, user.id, display));
  }

  /**
   * Sends a link to the new address; the change happens when it is opened (which proves
   * the address is theirs). A newer request voids older links.
   */
  async function requestEmailChange(user: User, email: string, currentPassword: string): Promise<void> {
    await checkPassword(user, currentPassword);
    const normalized = normalizeEmail(email);
    if (normalized === user.emailNormalized) throw badRequest('That is already your email address.', 'email', 'same_email');
    if (await users.findByEmail(normalized)) throw badRequest(EMAIL_IN_USE, 'email', 'email_in_use');
    const token = newToken();
    const now = clock.now();
    const mail = notifications.emailChange(user, email, token);
    await database.transaction(async (tx) => {
      await users.createTokenInTx(tx, {
        userId: user.id,
        purpose: 'email_change',
        tokenHash: hashToken(token),
        expiresAt: new Date(now.getTime() + EMAIL_CHANGE_TTL_MS),
        now,
        payload: email,
      });
      await notifications.queueInTx(tx, mail, now);
    });
  }

  /**
   * Opens an email-change link: the address changes (confirmed), and the old address is
   * told, in one transaction. Null for a bad, used or expired link, or when another account
   * took the address meanwhile (then nothing changes).
   */
  async function confirmEmailChange(token: string): Promise<User | null> {
    if (!TOKEN_SHAPE.test(token)) return null;
    const now = clock.now();
    try {
      return await database.transaction(async (tx) => {
        const spent = await users.spendTokenWithPayloadInTx(tx, 'email_change', hashToken(token), now);
        if (!spent?.payload) return null;
        const updated = await users.setEmailInTx(tx, spent.owner.id, spent.payload, now);
        await notifications.queueInTx(tx, notifications.emailChanged(spent.owner, spent.payload, now), now);
        return updated;
      });
    } catch (err) {
      if (uniqueViolation(err) === 'users.email_normalized') return null;
      throw err;
    }
  }

  /** A new password: every other session ends, and a notice is emailed. */
  async function changePassword(user: User, keepSessionId: string, currentPassword: string, password: string): Promise<void> {
    await checkPassword(user, currentPassword);
    const passwordHash = await hasher.hash(password);
    const now = clock.now();
    const notice = notifications.passwordChanged(user, now, true);
    await database.transaction(async (tx) => {
      await users.setPasswordInTx(tx, user.id, passwordHash);
      await users.deleteOtherSessionsInTx(tx, user.id, keepSessionId);
      // A reset link asked for before the change would undo it.
      await users.voidTokensInTx(tx, user.id, 'password_reset', now);
      await notifications.queueInTx(tx, notice, now);
    });
  }

  /**
   * A code the person chose. Once per 30 days; any code that is or was anyone's is
   * refused by the database itself (referral_codes), so two people racing for one code
   * cannot both get it. The former code stays theirs, as an alias.
   */
  async function chooseCode(user: User, code: string): Promise<void> {
    if (code === user.referralCode) throw badRequest('That is already your code.', 'code', 'same_code');
    const now = clock.now();
    if (user.codeChangedAt && now.getTime() - user.codeChangedAt.getTime() < CODE_CHANGE_EVERY_MS) {
      const next = new Date(user.codeChangedAt.getTime() + CODE_CHANGE_EVERY_MS).toISOString().slice(0, 10);
      throw badRequest(`You can choose a new code once every 30 days: next on ${next}.`, 'code', 'too_soon');
    }
    // Typed codes are read leniently (dashes dropped, O as 0, I and L as 1): a spelling that
    // reads as someone else's code would take their links, so it counts as taken too.
    const holder = await users.findByCode(code);
    if (holder && holder.id !== user.id) throw badRequest(CODE_TAKEN, 'code', 'code_taken');
    try {
      await database.transaction((tx) => users.setCodeInTx(tx, user.id, code, now));
    } catch (err) {
      const column = uniqueViolation(err);
      if (column === 'referral_codes.code' || column === 'users.referral_code') throw badRequest(CODE_TAKEN, 'code', 'code_taken');
      throw err;
    }
  }

  /** Pseudonymises the account (see the users repository); false when it already was. */
  async function deleteAccount(user: User): Promise<boolean> {
    const now = clock.now();
    return database.transaction((tx) => users.pseudonymiseInTx(tx, user.id, now));
  }

  async function deleteWithPassword(user: User, currentPassword: string): Promise<void> {
    await checkPassword(user, currentPassword);
    await deleteAccount(user);
  }

  /** Everything stored about the person, in their words: no password hash, token, signal hash or session. */
  async function exportData(user: User) {
    const iso = (d: Date | null) => d?.toISOString() ?? null;
    const [formerCodes, made, received, rewards, clicks] = await Promise.all([
      users.formerCodes(user.id),
      deps.referrals.madeBy(user.id),
      deps.referrals.ofReferred(user.id),
      deps.rewards.rewardsOf(user.id),
      deps.referrals.clicksFor(user.id),
    ]);
    const referrer = received ? await users.findById(received.referrerId) : undefined;
    return {
      exported_at: clock.now().toISOString(),
      profile: {
        id: user.id,
        name: user.name,
        email: user.email,
        email_verified_at: iso(user.emailVerifiedAt),
        role: user.role,
        status: user.status,
        referral_code: user.referralCode,
        referral_link: `${deps.config.baseUrl}/r/${user.referralCode}`,
        former_codes: formerCodes,
        leaderboard_display: user.leaderboardDisplay,
        notify_referrals: user.notifyReferrals,
        created_at: user.createdAt.toISOString(),
        converted_at: iso(user.convertedAt),
      },
      referred_by: received
        ? {
            referrer_name: referrer?.name ?? null,
            status: received.status,
            source: received.source,
            created_at: received.createdAt.toISOString(),
            credited_at: iso(received.creditedAt),
          }
        : null,
      referrals_count: user.referralsCount,
      referrals_made: made.map(({ referral: r, friendName }) => ({
        friend_name: friendName,
        status: r.status,
        source: r.source,
        created_at: r.createdAt.toISOString(),
        credited_at: iso(r.creditedAt),
        revoked_at: iso(r.revokedAt),
      })),
      rewards: rewards.map((r) => ({
        name: r.name,
        description: r.description,
        threshold: r.threshold,
        status: r.status,
        awarded_at: iso(r.awardedAt),
        fulfilled_at: iso(r.fulfilledAt),
      })),
      link_clicks: clicks,
    };
  }

  return {
    rename,
    setDisplay,
    requestEmailChange,
    confirmEmailChange,
    changePassword,
    chooseCode,
    deleteAccount,
    deleteWithPassword,
    exportData,
    formerCodes: (user: User) => users.formerCodes(user.id),
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
