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

export const UNKNOWN_CODE = 'That referral code does not exist. Check it, or leave the field empty.';

const codeText = z.string({ error: 'Enter a referral code.' }).max(100, 'That is not a referral code.');

/** Turns typed text into a canonical code; empty text is `null` (no code), nonsense is an issue. */
function readCode(required: boolean) {
  return (v: string | undefined, ctx: z.RefinementCtx): string | null => {
    if (v === undefined || v.trim() === '') {
      if (required) ctx.addIssue({ code: 'custom', message: 'Enter a referral code.' });
      return null;
    }
    const code = normalizeReferralCode(v);
    if (!code) ctx.addIssue({ code: 'custom', message: UNKNOWN_CODE });
    return code;
  };
}

/** The optional code on the sign-up form. */
export const ReferralCodeInputSchema = codeText.optional().transform(readCode(false));

/** A required code, for applying one after sign-up. */
export const RequiredReferralCodeSchema = codeText.transform(readCode(true)).pipe(z.string());
