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
  const cleaned = input
    .trim()
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  return CODE_PATTERN.test(cleaned) ? cleaned : null;
}

/** Optional code field: empty means "no code"; anything else must look like a code. */
export const ReferralCodeInputSchema = z
  .string({ error: 'Enter a referral code.' })
  .max(100, 'That is not a referral code.')
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return null;
    const code = normalizeReferralCode(v);
    if (!code) {
      ctx.addIssue({ code: 'custom', message: 'That referral code does not exist. Check it, or leave the field empty.' });
      return z.NEVER;
    }
    return code;
  });
