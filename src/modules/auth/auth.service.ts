import crypto from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { uniqueViolation } from '../../db/errors.js';
import type { User } from '../../db/schema.js';
import { AppError, badRequest, conflict, unauthorized } from '../../errors.js';
import { REFERRER_INACTIVE, type Tx } from '../referral/referral.repository.js';
import { RESET_TOKEN_TTL_MS } from './auth.constants.js';
import type { Referral } from '../../db/schema.js';
import { generateReferralCode, UNKNOWN_CODE } from '../referral/referral-code.js';
import type { UserRepository } from './auth.repository.js';
import { normalizeEmail, type LoginInput, type SignupInput } from './auth.schemas.js';
import type { PasswordHasher } from './password-hasher.js';

export const INVALID_LOGIN = 'The email or password is incorrect.';
export const EMAIL_TAKEN = 'An account with this email already exists. Log in instead, or reset your password.';
export const INVALID_RESET_LINK = 'This password reset link is invalid, already used or expired. Ask for a new one.';
const CODE_ATTEMPTS = 5;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

export interface AuthServiceDeps {
  users: UserRepository;
  hasher: PasswordHasher;
  config: Pick<Config, 'adminEmails'>;
  clock: Clock;
  /** What else each event writes in its own transaction (emails, rewards). */
  hooks?: {
    onSignup?: (tx: Tx, user: User, referral: Referral | null) => void;
    onResetRequested?: (tx: Tx, user: User, token: string, now: Date) => void;
    onPasswordChanged?: (tx: Tx, user: User, now: Date) => void;
  };
}

export function createAuthService({ users, hasher, config, clock, hooks = {} }: AuthServiceDeps) {
  const roleFor = (emailNormalized: string): User['role'] =>
    config.adminEmails.includes(emailNormalized) ? 'admin' : 'user';

  /**
   * Creates an account with a fresh referral code. Uniqueness is enforced by the database,
   * not by a prior lookup: with 20 simultaneous sign-ups for one email exactly one insert
   * wins and the rest get 409. A code collision (1 in 10^12 per pair) just draws again.
   */
  async function signup(input: SignupInput): Promise<User> {
    const emailNormalized = normalizeEmail(input.email);
    const referrer = input.referral_code ? users.findByCode(input.referral_code) : undefined;
    if (input.referral_code && !referrer) throw badRequest(UNKNOWN_CODE, 'referral_code', 'unknown_code');
    if (referrer && referrer.status !== 'active') throw badRequest(REFERRER_INACTIVE, 'referral_code', 'referrer_inactive');
    if (users.findByEmail(emailNormalized)) throw conflict(EMAIL_TAKEN, 'email');
    const passwordHash = await hasher.hash(input.password);
    for (let attempt = 1; ; attempt++) {
      try {
        return users.createAccount(
          {
            name: input.name,
            email: input.email,
            emailNormalized,
            passwordHash,
            referralCode: generateReferralCode(),
            role: roleFor(emailNormalized),
            createdAt: clock.now(),
          },
          referrer?.id ?? null,
          hooks.onSignup,
        );
      } catch (err) {
        const column = uniqueViolation(err);
        if (column === 'users.email_normalized') throw conflict(EMAIL_TAKEN, 'email');
        if (column === 'users.referral_code' && attempt < CODE_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  /**
   * Unknown email and wrong password take the same path and the same bcrypt time, and
   * answer with the same message, so the form cannot be used to find accounts.
   */
  async function login(input: LoginInput): Promise<User> {
    const emailNormalized = normalizeEmail(input.email);
    const user = users.findByEmail(emailNormalized);
    const ok = await hasher.verify(input.password, user?.passwordHash);
    if (!user || !ok) throw unauthorized(INVALID_LOGIN);
    if (user.status !== 'active') {
      throw new AppError(401, 'This account has been disabled. Contact the program organiser if you think this is a mistake.', {
        code: 'disabled',
      });
    }
    if (user.role === 'user' && roleFor(emailNormalized) === 'admin') {
      users.setRole(user.id, 'admin');
      return { ...user, role: 'admin' };
    }
    return user;
  }

  /**
   * Emails a reset link if the account exists and is active; otherwise does nothing.
   * The caller answers the same either way. The token (256 bits) is only ever stored as
   * a hash, and a new request voids the older links.
   */
  async function requestPasswordReset(email: string): Promise<void> {
    const user = users.findByEmail(normalizeEmail(email));
    if (!user || user.status !== 'active') return;
    const token = crypto.randomBytes(32).toString('base64url');
    const now = clock.now();
    users.createResetToken({ userId: user.id, tokenHash: hashToken(token), expiresAt: new Date(now.getTime() + RESET_TOKEN_TTL_MS), now }, (tx) =>
      hooks.onResetRequested?.(tx, user, token, now),
    );
  }

  function isResetTokenValid(token: string): boolean {
    return TOKEN_SHAPE.test(token) && users.findByResetToken(hashToken(token), clock.now()) !== undefined;
  }

  /** Sets the new password, spends the token and logs the user out everywhere. */
  async function resetPassword(token: string, password: string): Promise<User> {
    if (!isResetTokenValid(token)) throw badRequest(INVALID_RESET_LINK, 'form', 'invalid_token');
    const passwordHash = await hasher.hash(password);
    const now = clock.now();
    const user = users.resetPassword({ tokenHash: hashToken(token), passwordHash, now }, (tx, u) => hooks.onPasswordChanged?.(tx, u, now));
    if (!user) throw badRequest(INVALID_RESET_LINK, 'form', 'invalid_token');
    return user;
  }

  return { signup, login, requestPasswordReset, isResetTokenValid, resetPassword };
}

export type AuthService = ReturnType<typeof createAuthService>;
