import { z } from 'zod';
import { CHANNELS, REFERRAL_STATUSES } from '../../db/schema.js';
import { EmailSchema, NameSchema } from '../users/users.schemas.js';
import { PERIOD_PATTERN } from '../referral/leaderboard.js';
import { ReferralCodeInputSchema } from '../referral/referral-code.js';

/**
 * The integration API's schemas: they validate every request, and the OpenAPI document
 * is generated from them (api.openapi.ts), so the two cannot drift apart. `.meta()` names
 * a schema for the document and adds examples; it changes nothing in validation.
 */

export const IdParams = z.strictObject({
  id: z
    .string()
    .regex(/^[1-9]\d{0,9}$/, 'The id must be a positive whole number.')
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, 'The id is too large.')
    .meta({ description: 'A numeric id.', example: '42' }),
});

/** Bodyless POSTs accept nothing but an empty body or `{}`. */
export const EmptyBody = z.strictObject({});

const Cursor = z.string().min(1).max(400).meta({ description: 'The `next_cursor` of the previous page.' });

export const CreateParticipantBody = z
  .strictObject({
    email: EmailSchema.meta({ example: 'ada@example.com' }),
    name: NameSchema.meta({ example: 'Ada Lovelace' }),
    referral_code: ReferralCodeInputSchema.meta({ description: 'The code of whoever referred this person, if anyone.', example: 'K7M2Q9XD' }),
    ip: z.union([z.ipv4(), z.ipv6()], { error: 'Give the end user’s IPv4 or IPv6 address.' }).optional().meta({
      description: 'The end user’s address as your product saw it; feeds the network signals of the fraud screen.',
      example: '203.0.113.7',
    }),
    user_agent: z.string().max(1000, 'The user agent is too long.').optional().meta({
      description: 'The end user’s browser user agent; with `ip`, feeds the device signal of the fraud screen.',
    }),
  })
  .meta({ id: 'CreateParticipant' });

export const ParticipantQuery = z.strictObject({
  email: EmailSchema.meta({ description: 'The participant’s email address.', example: 'ada@example.com' }),
});

export const ConversionBody = z
  .strictObject({
    participant_id: z.number({ error: 'Give the participant_id as a number.' }).int().min(1).max(2_147_483_647),
  })
  .meta({ id: 'Conversion' });

export const ReferralsQuery = z.strictObject({
  status: z.enum(REFERRAL_STATUSES, { error: `status is one of ${REFERRAL_STATUSES.join(', ')}.` }).optional(),
  referrer_id: z
    .string()
    .regex(/^[1-9]\d{0,9}$/, 'referrer_id must be a positive whole number.')
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^(100|[1-9]\d?)$/, 'limit is a whole number from 1 to 100.')
    .transform(Number)
    .default(50)
    .meta({ description: 'Rows per page, 1–100 (default 50).' }),
  cursor: Cursor.optional(),
});

export const LeaderboardQuery = z.strictObject({
  period: z
    .string()
    .regex(PERIOD_PATTERN, 'period is all, month or a month as YYYY-MM.')
    .default('all')
    .meta({ description: '`all` (default), `month` (the current UTC month) or a month as `YYYY-MM`.' }),
  cursor: Cursor.optional(),
});

// ---- Responses (documentation only: the resources are built in *.resources.ts)

const isoTime = z.string().meta({ format: 'date-time' });

export const Participant = z
  .object({
    id: z.number().int(),
    email: z.string(),
    name: z.string(),
    referral_code: z.string(),
    referral_link: z.string().meta({ format: 'uri' }),
    referrals_count: z.number().int().meta({ description: 'Credited referrals.' }),
    rank: z.number().int().nullable().meta({ description: 'Leaderboard rank; null until the first credited referral.' }),
    referred_by_id: z.number().int().nullable(),
    status: z.enum(['active', 'disabled', 'deleted']),
    email_verified: z.boolean(),
    converted_at: isoTime.nullable(),
    created_at: isoTime,
  })
  .meta({ id: 'Participant' });

export const Referral = z
  .object({
    id: z.number().int(),
    referrer_id: z.number().int(),
    referred_id: z.number().int(),
    status: z.enum(REFERRAL_STATUSES),
    source: z.enum(['signup', 'applied', 'admin', 'api']),
    channel: z.enum(CHANNELS).meta({
      description: 'Where the referred person came from: the share link’s `src`, `link` (none), `other`, `code` (typed), `api`, `admin` or `unknown`.',
    }),
    utm: z
      .object({ source: z.string().nullable(), medium: z.string().nullable(), campaign: z.string().nullable() })
      .meta({ description: 'The utm tags of the link that brought them.' }),
    fraud_reasons: z.array(z.string()),
    created_at: isoTime,
    screened_at: isoTime.nullable(),
    credited_at: isoTime.nullable(),
    rejected_at: isoTime.nullable(),
    revoked_at: isoTime.nullable(),
  })
  .meta({ id: 'Referral' });

export const ReferralPage = z.object({ data: z.array(Referral), next_cursor: z.string().nullable() }).meta({ id: 'ReferralPage' });

export const LoginLink = z.object({ url: z.string().meta({ format: 'uri' }), expires_at: isoTime }).meta({ id: 'LoginLink' });

export const ConversionResult = z
  .object({ participant_id: z.number().int(), converted_at: isoTime, referral: Referral.nullable() })
  .meta({ id: 'ConversionResult' });

export const LeaderboardPage = z
  .object({
    data: z.array(z.object({ rank: z.number().int(), name: z.string(), referrals: z.number().int() })),
    total_ranked: z.number().int(),
    generated_at: isoTime,
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'LeaderboardPage' });

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details.' });
