import { z } from 'zod';
import { PERIOD_PATTERN } from './leaderboard.js';
import { RequiredReferralCodeSchema } from './referral-code.js';

export const ProcessReferralSchema = z.object({ referral_code: RequiredReferralCodeSchema });

/** `?page=N`: absent means 1; anything but a positive whole number is a 400. */
export const LeaderboardQuerySchema = z.object({
  page: z
    .string({ error: 'page must be a positive whole number.' })
    .regex(/^[1-9][0-9]{0,8}$/, 'page must be a positive whole number.')
    .transform(Number)
    .optional()
    .default(1),
  around: z.literal('me', { error: 'around can only be "me".' }).optional(),
  period: z
    .string({ error: 'period is all, month or a month as YYYY-MM.' })
    .regex(PERIOD_PATTERN, 'period is all, month or a month as YYYY-MM.')
    .optional()
    .default('all'),
  cursor: z
    .string({ error: 'Invalid cursor.' })
    .regex(/^[A-Za-z0-9_-]{1,300}$/, 'Invalid cursor.')
    .optional(),
});
