import type { Attribution } from '../referral/channels.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import { uniqueViolation } from '../../db/errors.js';
import type { TokenPurpose, User } from '../../db/schema.js';
import { writeSessionInTx, type SessionRow } from '../../db/session-store.js';
import type { Tx } from '../../db/client.js';
import { AppError, badRequest, conflict, unauthorized } from '../../errors.js';
import type { Notifications, PreparedMail } from '../mail/notifications.js';
import { hashClient, type ClientContext, type SignalHasher } from '../referral/fraud.js';
import { recordSignalsInTx } from '../referral/lifecycle.repository.js';
import type { ReferralLifecycle } from '../referral/lifecycle.service.js';
import { generateReferralCode, UNKNOWN_CODE } from '../referral/referral-code.js';
import { REFERRER_INACTIVE } from '../referral/referral.repository.js';
import { EMAIL_CHANGE_TTL_MS, LOGIN_LINK_TTL_MS, NO_PASSWORD, RESET_TOKEN_TTL_MS, VERIFY_TOKEN_TTL_MS } from '../users/users.constants.js';
import { participantData } from '../users/users.resources.js';
import { hashToken, newToken, TOKEN_SHAPE } from '../users/tokens.js';
import type { WebhookEvents } from '../../events.js';
import type { UserRepository } from '../users/users.repository.js';
import type { LoginInput, SignupInput } from './auth.schemas.js';
import { normalizeEmail } from '../users/users.schemas.js';
import type { PasswordHasher } from './password-hasher.js';

export const INVALID_LOGIN = 'The email or password is incorrect.';
export const EMAIL_TAKEN = 'An account with this email already exists. Log in instead, or reset your password.';
export const INVALID_RESET_LINK = 'This password reset link is invalid, already used or expired. Ask for a new one.';
const CODE_ATTEMPTS = 5;

export interface AuthServiceDeps {
  database: Database;
  users: UserRepository;
  hasher: PasswordHasher;
  config: Pick<Config, 'adminEmails' | 'baseUrl'>;
  clock: Clock;
  notifications: Notifications;
  lifecycle: ReferralLifecycle;
  hash: SignalHasher;
  events: WebhookEvents;
}

/**
 * Accounts: sign-up, login, email confirmation, password reset. Each state change is one
 * transaction opened here; emails are rendered before it opens and queued inside it.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { database, users, hasher, config, clock, notifications, lifecycle, events } = deps;
  const roleFor = (emailNormalized: string): User['role'] => (config.adminEmails.includes(emailNormalized) ? 'admin' : 'user');
  const ttl: Record<TokenPurpose, number> = {
    password_reset: RESET_TOKEN_TTL_MS,
    email_verify: VERIFY_TOKEN_TTL_MS,
    login_link: LOGIN_LINK_TTL_MS,
    email_change: EMAIL_CHANGE_TTL_MS,
  };
  const tokenRow = (userId: number, purpose: TokenPurpose, token: string, now: Date) => ({
    userId,
    purpose,
    tokenHash: hashToken(token),
    expiresAt: new Date(now.getTime() + ttl[purpose]),
    now,
  });

  /** The referrer behind a code given at sign-up: unknown or disabled codes are refused. */
  async function referrerOf(code: string | null | undefined): Promise<User | undefined> {
    const referrer = code ? await users.findByCode(code) : undefined;
    if (code && !referrer) throw badRequest(UNKNOWN_CODE, 'referral_code', 'unknown_code');
    if (referrer && referrer.status !== 'active') throw badRequest(REFERRER_INACTIVE, 'referral_code', 'referrer_inactive');
    return referrer;
  }

  /**
   * Creates an account with a fresh referral code, its confirmation link and welcome
   * email, its `participant.created` webhook, and the referral when it came with a valid
   * code: one transaction. Uniqueness is enforced by the database, not by a prior lookup:
   * with 20 simultaneous sign-ups for one email exactly one insert wins and the rest get
   * 409. A code collision (1 in 10^12 per pair) just draws again. `inTx` adds what the
   * caller needs in the same transaction (the web sign-up's session row).
   */
  async function createAccount(
    input: {
      name: string;
      email: string;
      passwordHash: string;
      referrer: User | undefined;
      source: 'signup' | 'api';
      client: ClientContext;
      attribution?: Attribution;
    },
    inTx?: (tx: Tx, user: User) => Promise<void>,
  ): Promise<User> {
    const emailNormalized = normalizeEmail(input.email);
    const hashes = hashClient(deps.hash, input.client);
    for (let attempt = 1; ; attempt++) {
      const now = clock.now();
      const referralCode = generateReferralCode();
      const verifyToken = newToken();
      // API participants are confirmed by the host product (POST …/verify), not by our email.
      const welcome =
        input.source === 'signup'
          ? notifications.welcome({ name: input.name, email: input.email, emailVerifiedAt: null, referralCode }, verifyToken, Boolean(input.referrer))
          : null;
      try {
        return await database.transaction(async (tx) => {
          const user = await users.insertInTx(tx, {
            name: input.name,
            email: input.email,
            emailNormalized,
            passwordHash: input.passwordHash,
            referralCode,
            role: roleFor(emailNormalized),
            referredById: input.referrer?.id ?? null,
            createdAt: now,
          });
          await recordSignalsInTx(tx, user.id, hashes, now);
          if (welcome) {
            await users.createTokenInTx(tx, tokenRow(user.id, 'email_verify', verifyToken, now));
            await notifications.queueInTx(tx, welcome, now);
          }
          await events.emitInTx(tx, 'participant.created', participantData(user, config.baseUrl), now);
          if (input.referrer) {
            await lifecycle.openInTx(tx, {
              referrerId: input.referrer.id,
              referred: user,
              source: input.source,
              client: hashes,
              now,
              attribution: input.attribution,
            });
          }
          await inTx?.(tx, user);
          return user;
        });
      } catch (err) {
        const column = uniqueViolation(err);
        if (column === 'users.email_normalized') throw conflict(EMAIL_TAKEN, 'email');
        // The code is taken, now or formerly (referral_codes keeps every code ever held).
        if ((column === 'users.referral_code' || column === 'referral_codes.code') && attempt < CODE_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  /**
   * The web sign-up. `session` gives the row of the session that logs the new account in,
   * written in its transaction; `attributionOf` tells the channel of a referral made with
   * the referrer's current code (see channels.ts).
   */
  async function signup(
    input: SignupInput,
    client: ClientContext = {},
    session?: (user: User) => SessionRow,
    attributionOf?: (referralCode: string) => Attribution,
  ): Promise<User> {
    const referrer = await referrerOf(input.referral_code);
    if (await users.findByEmail(normalizeEmail(input.email))) throw conflict(EMAIL_TAKEN, 'email');
    const passwordHash = await hasher.hash(input.password);
    const attribution = referrer && attributionOf ? attributionOf(referrer.referralCode) : undefined;
    return createAccount(
      { name: input.name, email: input.email, passwordHash, referrer, source: 'signup', client, attribution },
      session ? (tx, user) => writeSessionInTx(tx, session(user)) : undefined,
    );
  }

  /**
   * The integration API's create-or-get: the participant with this email, or a new one
   * without a password (they log in through login links, or set one by password reset).
   * `created` tells which; two simultaneous calls for one email create one participant.
   */
  async function enrol(
    input: { email: string; name: string; referral_code?: string | null | undefined },
    client: ClientContext = {},
  ): Promise<{ user: User; created: boolean }> {
    const existing = await users.findByEmail(normalizeEmail(input.email));
    if (existing) return { user: existing, created: false };
    const referrer = await referrerOf(input.referral_code);
    try {
      return { user: await createAccount({ ...input, passwordHash: NO_PASSWORD, referrer, source: 'api', client }), created: true };
    } catch (err) {
      const winner = err instanceof AppError && err.status === 409 ? await users.findByEmail(normalizeEmail(input.email)) : undefined;
      if (winner) return { user: winner, created: false };
      throw err;
    }
  }

  /**
   * Unknown email and wrong password take the same path and the same bcrypt time, and
   * answer with the same message, so the form cannot be used to find accounts. A
   * successful login remembers the network and browser, for the fraud screen.
   */
  async function login(input: LoginInput, client: ClientContext = {}): Promise<User> {
    const emailNormalized = normalizeEmail(input.email);
    const user = await users.findByEmail(emailNormalized);
    const ok = await hasher.verify(input.password, user?.passwordHash);
    if (!user || !ok) throw unauthorized(INVALID_LOGIN);
    if (user.status !== 'active') {
      throw new AppError(401, 'This account has been disabled. Contact the program organiser if you think this is a mistake.', {
        code: 'disabled',
      });
    }
    const hashes = hashClient(deps.hash, client);
    const promote = user.role === 'user' && roleFor(emailNormalized) === 'admin';
    await database.transaction(async (tx) => {
      await recordSignalsInTx(tx, user.id, hashes, clock.now());
      if (promote) await users.setRoleInTx(tx, user.id, 'admin');
    });
    return promote ? { ...user, role: 'admin' } : user;
  }

  /** Marks the address confirmed, once, and screens the person's pending referral with it. */
  async function confirmInTx(tx: Tx, userId: number, now: Date): Promise<void> {
    if (await users.markVerifiedInTx(tx, userId, now)) await lifecycle.onEmailVerifiedInTx(tx, userId, now);
  }

  /**
   * Confirms the address behind a link, and screens the person's pending referral in the
   * same transaction. Null for a bad, used or expired link. A second confirmation (another
   * tab, a mail scanner) finds the token spent and changes nothing.
   */
  async function verifyEmail(token: string): Promise<User | null> {
    if (!TOKEN_SHAPE.test(token)) return null;
    const now = clock.now();
    return database.transaction(async (tx) => {
      const owner = await users.spendTokenInTx(tx, 'email_verify', hashToken(token), now);
      if (!owner) return null;
      await confirmInTx(tx, owner.id, now);
      return owner;
    });
  }

  /**
   * A fresh single-use link of one purpose, emailed: the older links of that purpose stop
   * working in the same transaction that queues the email (rendered before it opens).
   */
  async function emailNewToken(user: User, purpose: TokenPurpose, render: (token: string) => PreparedMail | null): Promise<void> {
    const token = newToken();
    const now = clock.now();
    const mail = render(token);
    await database.transaction(async (tx) => {
      await users.createTokenInTx(tx, tokenRow(user.id, purpose, token, now));
      await notifications.queueInTx(tx, mail, now);
    });
  }

  /** A new confirmation link (older ones stop working); false when there is nothing to confirm. */
  async function resendVerification(user: User): Promise<boolean> {
    if (user.emailVerifiedAt !== null) return false;
    await emailNewToken(user, 'email_verify', (token) => notifications.verifyEmail(user, token));
    return true;
  }

  /**
   * Emails a reset link if the account exists and is active; otherwise does nothing.
   * The caller answers the same either way. The token (256 bits) is only ever stored as
   * a hash, and a new request voids the older links.
   */
  async function requestPasswordReset(email: string): Promise<void> {
    const user = await users.findByEmail(normalizeEmail(email));
    if (!user || user.status !== 'active') return;
    await emailNewToken(user, 'password_reset', (token) => notifications.passwordReset(user, token));
  }

  async function isResetTokenValid(token: string): Promise<boolean> {
    return TOKEN_SHAPE.test(token) && (await users.findTokenOwner('password_reset', hashToken(token), clock.now())) !== undefined;
  }

  /** Sets the new password, spends the token and logs the user out everywhere: one transaction. */
  async function resetPassword(token: string, password: string): Promise<User> {
    const owner = TOKEN_SHAPE.test(token) ? await users.findTokenOwner('password_reset', hashToken(token), clock.now()) : undefined;
    if (!owner) throw badRequest(INVALID_RESET_LINK, 'form', 'invalid_token');
    const passwordHash = await hasher.hash(password);
    const now = clock.now();
    const notice = notifications.passwordChanged(owner, now);
    const user = await database.transaction(async (tx) => {
      const spentBy = await users.spendTokenInTx(tx, 'password_reset', hashToken(token), now);
      if (!spentBy) return null;
      const updated = await users.setPasswordInTx(tx, spentBy.id, passwordHash);
      await users.deleteSessionsInTx(tx, spentBy.id);
      await notifications.queueInTx(tx, notice, now);
      return updated;
    });
    if (!user) throw badRequest(INVALID_RESET_LINK, 'form', 'invalid_token');
    return user;
  }

  /**
   * A single-use link that logs the participant into their dashboard, for a host product
   * whose users have no password here. A new link voids the older ones.
   */
  async function createLoginLink(user: User): Promise<{ url: string; expiresAt: Date }> {
    const token = newToken();
    const now = clock.now();
    const row = tokenRow(user.id, 'login_link', token, now);
    await database.transaction((tx) => users.createTokenInTx(tx, row));
    return { url: `${config.baseUrl}/auth/link/${token}`, expiresAt: row.expiresAt };
  }

  /** The participant behind an unused, unexpired login link, which it spends; null otherwise. */
  async function useLoginLink(token: string, client: ClientContext = {}): Promise<User | null> {
    if (!TOKEN_SHAPE.test(token)) return null;
    const now = clock.now();
    const hashes = hashClient(deps.hash, client);
    return database.transaction(async (tx) => {
      const owner = await users.spendTokenInTx(tx, 'login_link', hashToken(token), now);
      if (!owner) return null;
      // Like a login: where the participant is seen feeds the fraud screen.
      await recordSignalsInTx(tx, owner.id, hashes, now);
      return owner;
    });
  }

  /**
   * The host product confirmed the participant's email itself: marked confirmed, and
   * under CREDIT_ON=verified their pending referral is screened, as with our own link.
   */
  async function markEmailVerified(user: User): Promise<User> {
    const now = clock.now();
    await database.transaction(async (tx) => {
      await confirmInTx(tx, user.id, now);
    });
    return (await users.findById(user.id)) ?? user;
  }

  /** The dashboard switch for "someone joined with your link" emails. */
  async function setNotifyReferrals(userId: number, on: boolean): Promise<void> {
    await database.transaction((tx) => users.setNotifyReferralsInTx(tx, userId, on));
  }

  return {
    signup,
    enrol,
    createLoginLink,
    useLoginLink,
    markEmailVerified,
    login,
    setNotifyReferrals,
    verifyEmail,
    resendVerification,
    requestPasswordReset,
    isResetTokenValid,
    resetPassword,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
