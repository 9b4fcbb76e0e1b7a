import { FUNNEL_WINDOWS } from './growth.js';
import { z } from 'zod';
import { PERIOD_PATTERN } from '../referral/leaderboard.js';
import { EmailSchema, NameSchema } from '../users/users.schemas.js';
import { REFERRAL_SOURCES, REFERRAL_STATUSES } from '../../db/schema.js';

const pageField = z
  .string({ error: 'page must be a positive whole number.' })
  .regex(/^[1-9][0-9]{0,8}$/, 'page must be a positive whole number.')
  .transform(Number)
  .optional()
  .default(1);

const searchField = z
  .string({ error: 'Search for text.' })
  .max(200, 'Search for at most 200 characters.')
  .optional()
  .transform((v) => (v ?? '').trim());

export const IdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'Not found.')
    .transform(Number),
});

export const UsersQuerySchema = z.object({ q: searchField, page: pageField });

export const ReferralsQuerySchema = z.object({
  q: searchField,
  page: pageField,
  status: z
    .enum(['', ...REFERRAL_STATUSES], { error: 'Unknown status.' })
    .optional()
    .transform((v) => v || undefined),
  source: z
    .enum(['', ...REFERRAL_SOURCES], { error: 'Unknown source.' })
    .optional()
    .transform((v) => v || undefined),
});

export const PageQuerySchema = z.object({ page: pageField });

/** /admin: the funnel's window, the last 30 days unless `?funnel=all`. */
export const OverviewQuerySchema = z.object({
  funnel: z.enum(FUNNEL_WINDOWS, { error: 'The funnel shows the last 30 days (30d) or all time (all).' }).default('30d'),
});

/** Where to go back to after an admin action: only admin pages. */
export const ReturnToSchema = z.object({
  return_to: z
    .string()
    .regex(/^\/admin(\/[\w\-/?=&%.]*)?$/)
    .optional()
    .catch(undefined),
});

const idValue = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'Choose referrals from the list.')
  .transform(Number);

/** The bulk review form: an action and one or more ticked referrals (a repeated `ids` field). */
export const ReviewSchema = z.object({
  action: z.enum(['approve', 'reject'], { error: 'Choose approve or reject.' }),
  ids: z
    .union([idValue.transform((id) => [id]), z.array(idValue).max(100, 'Choose at most 100 referrals at once.')], {
      error: 'Tick at least one referral.',
    })
    .transform((ids) => [...new Set(ids)])
    .pipe(z.array(z.number()).min(1, 'Tick at least one referral.')),
});

/** An admin's correction of a person's name and address: the same rules as sign-up. */
export const ProfileSchema = z.object({ name: NameSchema, email: EmailSchema });

/** The leaderboard export: `?period=` as on the leaderboard page. */
export const LeaderboardExportSchema = z.object({
  period: z.string().regex(PERIOD_PATTERN, 'period is all, month or a month as YYYY-MM.').default('all'),
});
export const LEADERBOARD_EXPORT_ROWS = 1000;
