import crypto from 'node:crypto';
import { z } from 'zod';

/** Crockford's base32: no I, L, O or U, so a code read aloud or off a poster survives. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 8;
const CODE_PATTERN = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`);

/** 8 random symbols from crypto: 40 bits, never derived from the user. 256 % 32 = 0, so no bias. */
export function generateReferralCode(randomBytes: (n: number) => Buffer = crypto.randomBytes): string {
  const bytes = randomBytes(CODE_LENGTH);
  let code = '';
  for (const byte of bytes) code += CODE_ALPHABET[byte & 31];
  return code;
}

/**
 * Reads a code the way a person types it: any case, stray spaces or dashes, and the
 * letters people confuse with digits (O for 0, I and L for 1). Returns null when it
 * cannot be a code at all.
 */
export function normalizeReferralCode(input: string): string | null {
  const cleaned = input.trim().toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return CODE_PATTERN.test(cleaned) ? cleaned : null;
}

/** A code a person chose: 4–16 of A–Z, 0–9 and '-', starting and ending with a letter or digit. */
export const VANITY_PATTERN = /^[A-Z0-9][A-Z0-9-]{2,14}[A-Z0-9]$/;

/**
 * Words that would read as the program's own (or as a route) on a shared link, refused
 * whatever their case. A code is compared whole: ADMIN is refused, ADMIN-ADA is not.
 */
export const RESERVED_CODES: ReadonlySet<string> = new Set([
  'ADMIN',
  'ADMINISTRATOR',
  'API',
  'AUTH',
  'ROOT',
  'ACCOUNT',
  'DASHBOARD',
  'LOGIN',
  'LOGOUT',
  'SIGNUP',
  'REGISTER',
  'REFERRAL',
  'LEADERBOARD',
  'STATIC',
  'HEALTHZ',
  'SUPPORT',
  'HELP',
  'SYSTEM',
  'STAFF',
  'OFFICIAL',
  'MODERATOR',
  'NULL',
  'UNDEFINED',
  'NONE',
  'TEST',
]);

/**
 * The codes a typed text may stand for, most literal first: the text itself upper-cased
 * (a chosen code such as ADA-LOVE, or a generated one typed exactly), then the generated
 * code it reads as (dashes and spaces dropped, O read as 0, I and L as 1). Empty when it
 * can be neither.
 */
export function codeCandidates(input: string): string[] {
  const literal = input.trim().toUpperCase();
  const candidates = VANITY_PATTERN.test(literal) ? [literal] : [];
  const generated = normalizeReferralCode(input);
  if (generated && generated !== literal) candidates.push(generated);
  return candidates;
}

/** Typed text as a code to look up (trimmed, upper-cased), or null when it cannot be one. */
export function typedCode(input: string): string | null {
  return codeCandidates(input).length > 0 ? input.trim().toUpperCase() : null;
}

export const UNKNOWN_CODE = 'That referral code does not exist. Check it, or leave the field empty.';

const codeText = z.string({ error: 'Enter a referral code.' }).max(100, 'That is not a referral code.');

/** Turns typed text into a canonical code; empty text is `null` (no code), nonsense is an issue. */
function readCode(required: boolean) {
  return (v: string | undefined, ctx: z.RefinementCtx): string | null => {
    if (v === undefined || v.trim() === '') {
      if (required) ctx.addIssue({ code: 'custom', message: 'Enter a referral code.' });
      return null;
    }
    // The text as typed (trimmed, upper-cased): the lookup tries what it can stand for.
    const code = typedCode(v);
    if (!code) ctx.addIssue({ code: 'custom', message: UNKNOWN_CODE });
    return code;
  };
}

/** The optional code on the sign-up form. */
export const ReferralCodeInputSchema = codeText.optional().transform(readCode(false));

/** A required code, for applying one after sign-up. */
export const RequiredReferralCodeSchema = codeText.transform(readCode(true)).pipe(z.string());

/** A code a person chooses on their account page. */
export const VanityCodeSchema = z
  .string({ error: 'Enter the code you want.' })
  .max(100, 'Use 4 to 16 letters, digits or dashes.')
  .transform((v) => v.trim().toUpperCase())
  .pipe(
    z
      .string()
      .regex(VANITY_PATTERN, 'Use 4 to 16 letters (A–Z), digits or dashes, starting and ending with a letter or digit.')
      .refine((v) => !RESERVED_CODES.has(v), 'That word is reserved. Choose another code.'),
  );
