import { z } from 'zod';
import type { FriendReward } from '../../db/schema.js';
import { CONTROL_CHARS } from '../../http/validate.js';

/** The admin's tier form. An unchecked "active" box sends nothing, which means inactive. */
export const TierSchema = z.object({
  name: z
    .string({ error: 'Enter a name.' })
    .max(1000, 'Use at most 80 characters.')
    .transform((v) => v.trim())
    .pipe(
      z
        .string()
        .min(1, 'Enter a name.')
        .max(80, 'Use at most 80 characters.')
        .refine((v) => !CONTROL_CHARS.test(v), 'No control characters.'),
    ),
  description: z
    .string({ error: 'The description must be text.' })
    .max(2000, 'Use at most 500 characters.')
    .optional()
    .transform((v) => (v ?? '').trim())
    .pipe(
      z
        .string()
        .max(500, 'Use at most 500 characters.')
        .refine((v) => !CONTROL_CHARS.test(v), 'No control characters.'),
    ),
  threshold: z
    .string({ error: 'Enter the number of referrals.' })
    .trim()
    .regex(/^[1-9][0-9]{0,5}$/, 'Enter a whole number from 1 to 999999.')
    .transform(Number),
  active: z
    .literal('on', { error: 'Invalid value.' })
    .optional()
    .transform((v) => v === 'on'),
});
export type TierForm = z.output<typeof TierSchema>;

export const FRIEND_REWARD_STATUSES = ['awarded', 'fulfilled', 'withdrawn'] as const satisfies readonly FriendReward['status'][];

/**
 * The admin's friend-reward list: one status at a time (those waiting first), and where
 * the page starts, `before=<awarded_at ms>.<id>` of the last row of the page before.
 */
export const FriendRewardsQuerySchema = z.object({
  friend_status: z.enum(FRIEND_REWARD_STATUSES, { error: 'Unknown status.' }).default('awarded'),
  before: z
    .string({ error: 'Not a page of this list.' })
    .regex(/^(0|[1-9][0-9]{0,14})\.[1-9][0-9]{0,15}$/, 'Not a page of this list.')
    .transform((v) => {
      const [ms, id] = v.split('.').map(Number) as [number, number];
      return { awardedAt: new Date(ms), id };
    })
    .optional(),
});
export type FriendRewardsQuery = z.output<typeof FriendRewardsQuerySchema>;
