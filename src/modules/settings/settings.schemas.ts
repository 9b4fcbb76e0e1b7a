import { z } from 'zod';
import { CONTROL_CHARS } from '../../http/validate.js';
import { EmailSchema } from '../users/users.schemas.js';

/** What an admin sets at /admin/settings; every page and email reads it. */
export interface ProgramSettings {
  /** The header brand, every page title ("… · name") and every email. */
  name: string;
  /** A line under the home page's heading; empty: none. */
  tagline: string;
  /** What a referred friend gets ("20% off your first order"); empty: no offer. */
  friendOffer: string;
  /** Shown in the footer and in emails; empty: none. */
  supportEmail: string;
}

export const DEFAULT_SETTINGS: Readonly<ProgramSettings> = Object.freeze({
  name: 'Referral Program',
  tagline: '',
  friendOffer: '',
  supportEmail: '',
});

/** The form's field names, which are also the keys of app_settings rows. */
export const SETTING_KEYS = {
  name: 'program_name',
  tagline: 'tagline',
  friendOffer: 'friend_offer',
  supportEmail: 'support_email',
} as const satisfies Record<keyof ProgramSettings, string>;

export const SETTING_FIELDS = Object.values(SETTING_KEYS);

/**
 * One line of text, refused like a person's name when it holds control characters (line
 * breaks would forge email headers or lines) or Unicode format characters (invisible,
 * they reorder or disguise the text around them). Checked before trimming, because trim()
 * silently drops U+FEFF. A duplicated field arrives as an array and is refused as "not text".
 */
function line(what: string, max: number, required: boolean) {
  return z
    .string({ error: (issue) => (issue.input === undefined ? `Enter ${what}.` : `${capital(what)} must be text.`) })
    .max(1000, `Use at most ${max} characters.`)
    .refine((v) => !CONTROL_CHARS.test(v), `${capital(what)} cannot contain line breaks or control characters.`)
    .refine((v) => !/\p{Cf}/u.test(v), `${capital(what)} cannot contain invisible formatting characters (such as direction overrides or zero-width spaces).`)
    .transform((v) => v.trim().replace(/\s+/g, ' '))
    .pipe(
      z
        .string()
        .min(required ? 1 : 0, `Enter ${what}.`)
        .max(max, `Use at most ${max} characters.`),
    );
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const SettingsSchema = z
  .object({
    program_name: line('the program name', 60, true),
    tagline: line('the tagline', 200, false).default(''),
    friend_offer: line('the friend offer', 200, false).default(''),
    support_email: line('the support email', 254, false)
      .refine((v) => v === '' || EmailSchema.safeParse(v).success, 'Enter a valid email address, like help@example.com, or leave it empty.')
      .default(''),
  })
  .transform((v): ProgramSettings => ({
    name: v.program_name,
    tagline: v.tagline,
    friendOffer: v.friend_offer,
    supportEmail: v.support_email,
  }));
