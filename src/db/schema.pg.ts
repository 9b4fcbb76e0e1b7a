import { desc, sql } from 'drizzle-orm';
import { API_SCOPES, CHANNELS, LEADERBOARD_DISPLAYS, REFERRAL_SOURCES, REFERRAL_STATUSES, TOKEN_PURPOSES } from './schema.sqlite.js';

const CHANNEL_LIST = sql.raw(CHANNELS.map((c) => `'${c}'`).join(', '));
import { bigint, boolean, check, customType, index, integer, pgTable, primaryKey, text, uniqueIndex, type AnyPgColumn } from 'drizzle-orm/pg-core';

/**
 * The PostgreSQL twin of schema.sqlite.ts: the same tables, columns, constraints and
 * indexes, column for column, so that one set of repositories runs on either engine.
 * Times are epoch milliseconds in a bigint, as in SQLite, so raw comparisons with a
 * number mean the same on both; Drizzle maps them to Date either way.
 */
const epochMs = customType<{ data: Date; driverData: string | number }>({
  dataType: () => 'bigint',
  toDriver: (value) => value.getTime(),
  fromDriver: (value) => new Date(Number(value)),
});

export const users = pgTable(
  'users',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    email: text('email').notNull(),
    emailNormalized: text('email_normalized').notNull().unique(),
    passwordHash: text('password_hash').notNull(),
    referralCode: text('referral_code').notNull().unique(),
    referralsCount: integer('referrals_count').notNull().default(0),
    referredById: integer('referred_by_id').references((): AnyPgColumn => users.id),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    lastReferralAt: epochMs('last_referral_at'),
    /** Whether the user wants an email each time someone joins through their link. */
    notifyReferrals: boolean('notify_referrals').notNull().default(true),
    /** When the person opened the confirmation link; null until then (see "Earned credit"). */
    emailVerifiedAt: epochMs('email_verified_at'),
    convertedAt: epochMs('converted_at'),
    deletedAt: epochMs('deleted_at'),
    leaderboardDisplay: text('leaderboard_display', { enum: LEADERBOARD_DISPLAYS }).notNull().default('name'),
    codeChangedAt: epochMs('code_changed_at'),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [
    index('users_referred_by_idx').on(t.referredById),
    index('users_created_idx').on(t.createdAt),
    // The leaderboard order, only over ranked users: a page is an index range, not a sort.
    index('users_ranking_idx')
      .on(desc(t.referralsCount), t.lastReferralAt, t.id)
      .where(sql`status = 'active' and referrals_count > 0`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
    check('users_status_check', sql`${t.status} in ('active', 'disabled')`),
    check('users_referrals_count_check', sql`${t.referralsCount} >= 0`),
    check('users_leaderboard_display_check', sql`${t.leaderboardDisplay} in ('name', 'initials', 'anonymous')`),
  ],
);

export const referralCodes = pgTable('referral_codes', {
  code: text('code').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: epochMs('created_at').notNull(),
});

/**
 * One row per referred person (referred_user_id is UNIQUE: a person is referred once,
 * ever). Only 'credited' rows count. A row is born 'pending' and is screened when it would
 * be credited (see CREDIT_ON): clean → 'credited', any fraud signal → 'held' for an admin,
 * who approves ('credited') or rejects ('rejected'). Revoking a credited row keeps it as
 * 'revoked' for the audit trail.
 *
 * The screen's inputs are stored with the row as keyed hashes only: the network (/24 or
 * /64) and device cookie of the request that created it, and the canonical email.
 */
export const referrals = pgTable(
  'referrals',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    referrerId: integer('referrer_id')
      .notNull()
      .references(() => users.id),
    referredUserId: integer('referred_user_id')
      .notNull()
      .unique()
      .references(() => users.id),
    referredEmail: text('referred_email').notNull(),
    source: text('source', { enum: REFERRAL_SOURCES }).notNull(),
    status: text('status', { enum: REFERRAL_STATUSES }).notNull().default('pending'),
    /** Comma-separated reason codes of the fraud screen ('' when it found nothing). */
    fraudReasons: text('fraud_reasons').notNull().default(''),
    networkHash: text('network_hash'),
    deviceHash: text('device_hash'),
    emailAliasHash: text('email_alias_hash'),
    channel: text('channel', { enum: CHANNELS }).notNull().default('unknown'),
    utmSource: text('utm_source'),
    utmMedium: text('utm_medium'),
    utmCampaign: text('utm_campaign'),
    createdAt: epochMs('created_at').notNull(),
    screenedAt: epochMs('screened_at'),
    creditedAt: epochMs('credited_at'),
    rejectedAt: epochMs('rejected_at'),
    revokedAt: epochMs('revoked_at'),
  },
  (t) => [
    index('referrals_referrer_created_idx').on(t.referrerId, t.createdAt),
    index('referrals_referrer_status_idx').on(t.referrerId, t.status),
    index('referrals_status_created_idx').on(t.status, t.createdAt),
    index('referrals_created_idx').on(t.createdAt),
    // The velocity signal: one referrer's referrals from one network in the last hour.
    index('referrals_velocity_idx').on(t.referrerId, t.networkHash, t.createdAt),
    index('referrals_email_alias_idx').on(t.emailAliasHash),
    check('referrals_source_check', sql`${t.source} in ('signup', 'applied', 'admin', 'api')`),
    check('referrals_status_check', sql`${t.status} in ('pending', 'held', 'credited', 'rejected', 'revoked')`),
    check('referrals_not_self_check', sql`${t.referrerId} <> ${t.referredUserId}`),
    check('referrals_channel_check', sql`${t.channel} in (${CHANNEL_LIST})`),
  ],
);

/**
 * Where a person has been seen (network /24 or /64, device cookie), as keyed hashes, from
 * sign-up and every login: what the fraud screen compares a referred friend against.
 */
export const userSignals = pgTable(
  'user_signals',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['network', 'device'] }).notNull(),
    hash: text('hash').notNull(),
    firstSeenAt: epochMs('first_seen_at').notNull(),
    lastSeenAt: epochMs('last_seen_at').notNull(),
  },
  (t) => [
    uniqueIndex('user_signals_user_kind_hash_unique').on(t.userId, t.kind, t.hash),
    check('user_signals_kind_check', sql`${t.kind} in ('network', 'device')`),
  ],
);

/**
 * Clicks on /r/:code. The client address and user agent are kept only as keyed hashes:
 * enough to spot one device clicking a link a thousand times, useless to identify anyone.
 */
export const referralClicks = pgTable(
  'referral_clicks',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    referrerId: integer('referrer_id')
      .notNull()
      .references(() => users.id),
    ipHash: text('ip_hash').notNull(),
    userAgentHash: text('user_agent_hash').notNull(),
    channel: text('channel', { enum: CHANNELS }).notNull().default('link'),
    utmSource: text('utm_source'),
    utmMedium: text('utm_medium'),
    utmCampaign: text('utm_campaign'),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [
    index('referral_clicks_referrer_created_idx').on(t.referrerId, t.createdAt),
    index('referral_clicks_created_idx').on(t.createdAt),
    check('referral_clicks_channel_check', sql`${t.channel} in (${CHANNEL_LIST})`),
  ],
);

/**
 * Small shared counters. 'leaderboard_version' is bumped by a trigger (migration
 * 0002) whenever a ranked user's count, status, name or timing changes; every worker
 * compares it with its cached pages, so a change shows everywhere on the next request.
 */
export const appState = pgTable('app_state', {
  key: text('key').primaryKey(),
  value: integer('value').notNull().default(0),
});

export const appSettings = pgTable('app_settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: epochMs('updated_at').notNull(),
});

/**
 * Single-use tokens sent by email (password reset, email confirmation), stored only as
 * SHA-256 hashes: a database leak yields no usable link. used_at marks a token spent (by
 * use, or voided by a newer one of the same purpose).
 */
export const userTokens = pgTable(
  'user_tokens',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose', { enum: TOKEN_PURPOSES }).notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    expiresAt: epochMs('expires_at').notNull(),
    usedAt: epochMs('used_at'),
    payload: text('payload'),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [
    index('user_tokens_user_purpose_idx').on(t.userId, t.purpose),
    check('user_tokens_purpose_check', sql`${t.purpose} in ('password_reset', 'email_verify', 'login_link', 'email_change')`),
  ],
);

/**
 * The email outbox. A row is written in the same transaction as the event that causes
 * it, already rendered, and a background deliverer sends it. `locked_until` is a lease:
 * a worker that claims a row owns it until then, so two workers never send one row.
 */
export const emailOutbox = pgTable(
  'email_outbox',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    kind: text('kind').notNull(),
    toAddress: text('to_address').notNull(),
    subject: text('subject').notNull(),
    textBody: text('text_body').notNull(),
    htmlBody: text('html_body').notNull(),
    messageId: text('message_id').notNull().unique(),
    status: text('status', { enum: ['pending', 'sending', 'sent', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: epochMs('next_attempt_at').notNull(),
    lockedUntil: epochMs('locked_until'),
    lastError: text('last_error'),
    createdAt: epochMs('created_at').notNull(),
    sentAt: epochMs('sent_at'),
  },
  (t) => [
    index('email_outbox_due_idx').on(t.status, t.nextAttemptAt),
    check('email_outbox_status_check', sql`${t.status} in ('pending', 'sending', 'sent', 'failed')`),
  ],
);

/** Reward tiers: reaching `threshold` credited referrals earns the tier (once per user). */
export const rewardTiers = pgTable(
  'reward_tiers',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    threshold: integer('threshold').notNull().unique(),
    active: boolean('active').notNull().default(true),
    createdAt: epochMs('created_at').notNull(),
    updatedAt: epochMs('updated_at').notNull(),
  },
  (t) => [check('reward_tiers_threshold_check', sql`${t.threshold} >= 1`)],
);

/**
 * A tier earned by a user. UNIQUE (user, tier): awarded once, whatever the concurrency.
 * 'withdrawn' = a revocation took the user back below the threshold before fulfilment.
 */
export const userRewards = pgTable(
  'user_rewards',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    tierId: integer('tier_id')
      .notNull()
      .references(() => rewardTiers.id),
    status: text('status', { enum: ['awarded', 'fulfilled', 'withdrawn'] })
      .notNull()
      .default('awarded'),
    awardedAt: epochMs('awarded_at').notNull(),
    fulfilledAt: epochMs('fulfilled_at'),
  },
  (t) => [
    uniqueIndex('user_rewards_user_tier_unique').on(t.userId, t.tierId),
    check('user_rewards_status_check', sql`${t.status} in ('awarded', 'fulfilled', 'withdrawn')`),
  ],
);

/** Every admin action: who, what, on what, when; written in the action's transaction. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    actorId: integer('actor_id').references(() => users.id),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: integer('target_id'),
    details: text('details').notNull().default('{}'),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [index('audit_log_created_idx').on(t.createdAt)],
);

/**
 * How many ranked users (active, at least one referral) hold each referral count. A rank
 * is 1 + the users on higher scores: a sum over a few hundred distinct scores whatever
 * the number of users. Kept exact by triggers (migration 0007) in the same statement,
 * hence the same transaction, as every change of a user's count or status.
 */
export const scoreCounts = pgTable('score_counts', {
  score: integer('score').primaryKey(),
  users: integer('users').notNull().default(0),
});

/**
 * Credited referrals per referrer per UTC day (`day` = days since 1970-01-01), for the
 * dashboard chart: 30 rows to read whatever a referrer's total. Kept exact by triggers on
 * referrals (SQLite migration 0013, PostgreSQL 0003) inside the transaction of every
 * credit, revocation, insert and delete, like score_counts.
 */
export const referralDays = pgTable(
  'referral_days',
  {
    referrerId: integer('referrer_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    day: integer('day').notNull(),
    credited: integer('credited').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.referrerId, t.day] })],
);

export const channelDays = pgTable(
  'channel_days',
  {
    day: integer('day').notNull(),
    channel: text('channel').notNull(),
    clicks: integer('clicks').notNull().default(0),
    signups: integer('signups').notNull().default(0),
    confirmed: integer('confirmed').notNull().default(0),
    credited: integer('credited').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.channel] })],
);

export const friendRewards = pgTable(
  'friend_rewards',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .unique()
      .references(() => users.id),
    referralId: integer('referral_id')
      .notNull()
      .references(() => referrals.id),
    offer: text('offer').notNull(),
    status: text('status', { enum: ['awarded', 'fulfilled', 'withdrawn'] })
      .notNull()
      .default('awarded'),
    awardedAt: epochMs('awarded_at').notNull(),
    fulfilledAt: epochMs('fulfilled_at'),
  },
  (t) => [
    index('friend_rewards_status_awarded_idx').on(t.status, t.awardedAt),
    check('friend_rewards_status_check', sql`${t.status} in ('awarded', 'fulfilled', 'withdrawn')`),
  ],
);

export const periodScores = pgTable(
  'period_scores',
  {
    period: integer('period').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    referrals: integer('referrals').notNull().default(0),
    reachedAt: bigint('reached_at', { mode: 'number' }).notNull(),
    name: text('name').notNull().default(''),
    leaderboardDisplay: text('leaderboard_display', { enum: LEADERBOARD_DISPLAYS }).notNull().default('name'),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
  },
  (t) => [
    primaryKey({ columns: [t.period, t.userId] }),
    // INCLUDE (name, leaderboard_display) is added by hand in migration 0013.
    index('period_scores_ranking_idx')
      .on(t.period, desc(t.referrals), t.reachedAt, t.userId)
      .where(sql`status = 'active' and referrals > 0`),
    index('period_scores_user_idx').on(t.userId),
  ],
);

export const periodScoreCounts = pgTable(
  'period_score_counts',
  {
    period: integer('period').notNull(),
    score: integer('score').notNull(),
    users: integer('users').notNull().default(0),
  },
  // Only the primary key indexes this table on PostgreSQL, and its pages are kept half
  // empty (fillfactor 50, migration 0014): every credit rewrites two of these rows, and
  // with `users` in no index and room on the page, each rewrite is a HOT update, which
  // leaves no dead index entry behind. A covering index (as SQLite has) made every
  // rewrite a new index entry: 16,640 dead ones after one benchmark run with autovacuum
  // off, which the month's totals and ranks then walked on every request.
  (t) => [primaryKey({ columns: [t.period, t.score] })],
);

/** express-session rows; user_id lets every session of one user be revoked at once. */
export const sessions = pgTable(
  'sessions',
  {
    sid: text('sid').primaryKey(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
    data: text('data').notNull(),
  },
  (t) => [index('sessions_expires_at_idx').on(t.expiresAt), index('sessions_user_id_idx').on(t.userId)],
);

/** Counters for rate-limiter-flexible's SQLite store, shared by every worker process. */
export const rateLimits = pgTable('rate_limits', {
  key: text('key').primaryKey(),
  points: integer('points').notNull().default(0),
  expire: bigint('expire', { mode: 'number' }),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    scope: text('scope', { enum: API_SCOPES }).notNull(),
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    createdById: integer('created_by_id').references(() => users.id),
    createdAt: epochMs('created_at').notNull(),
    lastUsedAt: epochMs('last_used_at'),
    revokedAt: epochMs('revoked_at'),
  },
  (t) => [check('api_keys_scope_check', sql`${t.scope} in ('read', 'write')`)],
);

export const apiIdempotency = pgTable(
  'api_idempotency',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    apiKeyId: integer('api_key_id')
      .notNull()
      .references(() => apiKeys.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    statusCode: integer('status_code'),
    body: text('body'),
    createdAt: epochMs('created_at').notNull(),
    expiresAt: epochMs('expires_at').notNull(),
  },
  (t) => [uniqueIndex('api_idempotency_key_unique').on(t.apiKeyId, t.key), index('api_idempotency_expires_idx').on(t.expiresAt)],
);

export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    url: text('url').notNull(),
    events: text('events').notNull().default(''),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretUntil: epochMs('previous_secret_until'),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    failingSince: epochMs('failing_since'),
    disabledAt: epochMs('disabled_at'),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [check('webhook_endpoints_status_check', sql`${t.status} in ('active', 'disabled')`)],
);

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    endpointId: integer('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    messageId: text('message_id').notNull(),
    eventType: text('event_type').notNull(),
    payload: text('payload').notNull(),
    status: text('status', { enum: ['pending', 'sending', 'sent', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: epochMs('next_attempt_at').notNull(),
    lockedUntil: epochMs('locked_until'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: epochMs('created_at').notNull(),
    deliveredAt: epochMs('delivered_at'),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.status, t.nextAttemptAt),
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.id),
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'sending', 'sent', 'failed')`),
  ],
);
