import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { uniqueViolation } from '../../db/errors.js';
import type { User } from '../../db/schema.js';
import { AppError, badRequest, conflict, unauthorized } from '../../errors.js';
import { REFERRER_INACTIVE, type Tx } from '../referral/referral.repository.js';
import type { Referral } from '../../db/schema.js';
import { generateReferralCode, UNKNOWN_CODE } from '../referral/referral-code.js';
import type { UserRepository } from './auth.repository.js';
import { normalizeEmail, type LoginInput, type SignupInput } from './auth.schemas.js';
import type { PasswordHasher } from './password-hasher.js';

export const INVALID_LOGIN = 'The email or password is incorrect.';
export const EMAIL_TAKEN = 'An account with this email already exists. Log in instead, or reset your password.';
const CODE_ATTEMPTS = 5;

export interface AuthServiceDeps {
  users: UserRepository;
  hasher: PasswordHasher;
  config: Pick<Config, 'adminEmails'>;
  clock: Clock;
  /** What else a sign-up writes in its transaction (welcome email, referral notice, rewards). */
  hooks?: { onSignup?: (tx: Tx, user: User, referral: Referral | null) => void };
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

  return { signup, login };
}

export type AuthService = ReturnType<typeof createAuthService>;
