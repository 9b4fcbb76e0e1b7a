import { z } from 'zod';
import { dictionary } from '@zxcvbn-ts/language-common';
import { ReferralCodeInputSchema } from '../referral/referral-code.js';
import { EmailSchema, NameSchema, requiredString } from '../users/users.schemas.js';

const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary['passwords-common']);

export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_BYTES = 72;

/**
 * bcrypt reads at most 72 bytes and stops at a NUL byte, so both are refused outright
 * rather than silently ignored.
 */
export const PasswordSchema = requiredString('Enter a password.')
  .refine((v) => [...v].length >= PASSWORD_MIN_CHARS, `Use at least ${PASSWORD_MIN_CHARS} characters.`)
  .refine(
    (v) => Buffer.byteLength(v, 'utf8') <= PASSWORD_MAX_BYTES,
    `Use at most ${PASSWORD_MAX_BYTES} bytes (72 plain letters or digits; accented letters and emoji take 2 to 4 bytes each).`,
  )
  .refine((v) => !v.includes('\u0000'), 'Passwords cannot contain a NUL character.')
  .refine((v) => !COMMON_PASSWORDS.has(v.toLowerCase()), 'That password is one of the most common ones. Choose something less guessable.');

export const SignupSchema = z.object({
  name: NameSchema,
  email: EmailSchema,
  password: PasswordSchema,
  referral_code: ReferralCodeInputSchema,
});
export type SignupInput = z.output<typeof SignupSchema>;

/** Login does not re-check the password policy: old passwords must keep working. */
export const LoginSchema = z.object({
  email: EmailSchema,
  password: requiredString('Enter your password.').min(1, 'Enter your password.').max(1000, 'That password is too long.'),
  next: z.string().optional().catch(undefined),
});
export type LoginInput = z.output<typeof LoginSchema>;

export const ForgotSchema = z.object({ email: EmailSchema });
export const ResetSchema = z.object({ password: PasswordSchema });
