import { z } from 'zod';
import { CONTROL_CHARS } from '../../http/validate.js';

/** A string field whose absence (or a non-string) answers `message`. */
export const requiredString = (message: string) => z.string({ error: message });

/** Trimmed; lower-cased only for uniqueness and lookup (see normalizeEmail). */
export const EmailSchema = requiredString('Enter your email address.')
  .max(1000, 'That email address is too long.')
  .refine((v) => !CONTROL_CHARS.test(v), 'Email addresses cannot contain line breaks or control characters.')
  .transform((v) => v.trim())
  .pipe(
    z
      .string()
      .min(1, 'Enter your email address.')
      .max(254, 'That email address is too long.')
      .regex(/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:".]{2,}$/, 'Enter a valid email address, like name@example.com.'),
  );

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export const NameSchema = requiredString('Enter your name.')
  .max(1000, 'Use at most 60 characters.')
  .refine((v) => !CONTROL_CHARS.test(v), 'Names cannot contain line breaks or control characters.')
  // Format characters (bidi overrides, zero-width spaces, BOM) are invisible but reorder or
  // disguise the text around them: a name could impersonate another or flip a page's text.
  // Checked before trimming, because trim() silently drops U+FEFF.
  .refine((v) => !/\p{Cf}/u.test(v), 'Names cannot contain invisible formatting characters (such as direction overrides or zero-width spaces).')
  .transform((v) => v.trim().replace(/\s+/g, ' '))
  .pipe(z.string().min(1, 'Enter your name.').max(60, 'Use at most 60 characters.'));
