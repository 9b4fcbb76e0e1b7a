import { desc, sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex, type AnySQLiteColumn } from 'drizzle-orm/sqlite-core';

/** All tables. Columns are snake_case in SQLite and camelCase in TypeScript. */

export const LEADERBOARD_DISPLAYS = ['name', 'initials', 'anonymous'] as const;
export type LeaderboardDisplay = (typeof LEADERBOARD_DISPLAYS)[number];

export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    email: text('email').notNull(),
    emailNormalized: text('email_normalized').notNull().unique(),
    passwordHash: text('password_hash').notNull(),
    referralCode: text('referral_code').notNull().unique(),
    referralsCount: integer('referrals_count').notNull().default(0),
    referredById: integer('referred_by_id').references((): AnySQLiteColumn => users.id),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    lastReferralAt: integer('last_referral_at', { mode: 'timestamp_ms' }),
    /** Whether the user wants an email each time someone joins through their link. */
    notifyReferrals: integer('notify_referrals', { mode: 'boolean' }).notNull().default(true),
    /** When the person opened the confirmation link; null until then (see "Earned credit"). */
    emailVerifiedAt: integer('email_verified_at', { mode: 'timestamp_ms' }),
    /** When the host product reported this person's qualifying action (POST /api/v1/conversions). */
    convertedAt: integer('converted_at', { mode: 'timestamp_ms' }),
    /** When the account was pseudonymised (deleted by its owner or through the API). */
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
    /** How the public leaderboard shows this person: full name, initials ("Ada L.") or "Anonymous referrer". */
    leaderboardDisplay: text('leaderboard_display', { enum: LEADERBOARD_DISPLAYS }).notNull().default('name'),
    /** When the person last chose their own code (once per 30 days). */
    codeChangedAt: integer('code_changed_at', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    index('users_referred_by_idx').on(t.referredById),
    index('users_created_idx').on(t.createdAt),
    // The leaderboard order, only over ranked users: a page is an index range, not a sort.
    // On SQLite the index also covers name and leaderboard_display (migrations 0008, 0016),
    // which drizzle-kit cannot express.
    index('users_ranking_idx')
      .on(desc(t.referralsCount), t.lastReferralAt, t.id)
      .where(sql`status = 'active' and referrals_count > 0`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
    check('users_status_check', sql`${t.status} in ('active', 'disabled')`),
    check('users_referrals_count_check', sql`${t.referralsCount} >= 0`),
    check('users_leaderboard_display_check', sql`${t.leaderboardDisplay} in ('name', 'initials', 'anonymous')`),
  ],
);

/**
 * Every code a person has ever had: the current one and every former one. Triggers on
 * users (migration 0016) add a row when a user is created or changes code, so the primary
 * key makes a code impossible to take twice, ever, and links already shared with an old
 * code keep leading to the same person.
 */
export const referralCodes = sqliteTable('referral_codes', {
  code: text('code').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
});

export const REFERRAL_STATUSES = ['pending', 'held', 'credited', 'rejected', 'revoked'] as const;
export const REFERRAL_SOURCES = ['signup', 'applied', 'admin', 'api'] as const;

/**
 * Where a click or a referred sign-up came from. The share links carry the first eight as
 * `?src=`; `link` is a link without one, `other` a `src` we do not know, `code` a code
 * typed by hand, `api` and `admin` referrals made by the integration API or an admin, and
 * `unknown` a referral made before channels were recorded.
 */
export const SHARE_CHANNELS = ['email', 'whatsapp', 'x', 'facebook', 'linkedin', 'telegram', 'qr', 'copy'] as const;
export const CHANNELS = [...SHARE_CHANNELS, 'link', 'other', 'code', 'api', 'admin', 'unknown'] as const;
export type Channel = (typeof CHANNELS)[number];
const CHANNEL_LIST = sql.raw(CHANNELS.map((c) => `'${c}'`).join(', '));

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
export const referrals = sqliteTable(
  'referrals',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    screenedAt: integer('screened_at', { mode: 'timestamp_ms' }),
    creditedAt: integer('credited_at', { mode: 'timestamp_ms' }),
    rejectedAt: integer('rejected_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
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
export const userSignals = sqliteTable(
  'user_signals',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['network', 'device'] }).notNull(),
    hash: text('hash').notNull(),
    firstSeenAt: integer('first_seen_at', { mode: 'timestamp_ms' }).notNull(),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull(),
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
export const referralClicks = sqliteTable(
  'referral_clicks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    referrerId: integer('referrer_id')
      .notNull()
      .references(() => users.id),
    ipHash: text('ip_hash').notNull(),
    userAgentHash: text('user_agent_hash').notNull(),
    channel: text('channel', { enum: CHANNELS }).notNull().default('link'),
    utmSource: text('utm_source'),
    utmMedium: text('utm_medium'),
    utmCampaign: text('utm_campaign'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
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
export const appState = sqliteTable('app_state', {
  key: text('key').primaryKey(),
  value: integer('value').notNull().default(0),
});

/**
 * Program settings an admin edits at /admin/settings (name, tagline, friend offer,
 * support address), one row per setting; a missing row means its default. Every change
 * also bumps app_state 'settings_version' in the same transaction: each worker keeps the
 * settings in memory and re-reads them only when that number moved (src/modules/settings).
 */
export const appSettings = sqliteTable('app_settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

export const TOKEN_PURPOSES = ['password_reset', 'email_verify', 'login_link', 'email_change'] as const;
export type TokenPurpose = (typeof TOKEN_PURPOSES)[number];

/**
 * Single-use tokens sent by email (password reset, email confirmation), stored only as
 * SHA-256 hashes: a database leak yields no usable link. used_at marks a token spent (by
 * use, or voided by a newer one of the same purpose).
 */
export const userTokens = sqliteTable(
  'user_tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose', { enum: TOKEN_PURPOSES }).notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    usedAt: integer('used_at', { mode: 'timestamp_ms' }),
    /** What the token stands for beyond its owner: the new address of an email change. */
    payload: text('payload'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
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
export const emailOutbox = sqliteTable(
  'email_outbox',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    nextAttemptAt: integer('next_attempt_at', { mode: 'timestamp_ms' }).notNull(),
    lockedUntil: integer('locked_until', { mode: 'timestamp_ms' }),
    lastError: text('last_error'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    sentAt: integer('sent_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    index('email_outbox_due_idx').on(t.status, t.nextAttemptAt),
    check('email_outbox_status_check', sql`${t.status} in ('pending', 'sending', 'sent', 'failed')`),
  ],
);

/** Reward tiers: reaching `threshold` credited referrals earns the tier (once per user). */
export const rewardTiers = sqliteTable(
  'reward_tiers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    threshold: integer('threshold').notNull().unique(),
    active: integer('active', { mode: 'boolean' }).notNull().default(true),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [check('reward_tiers_threshold_check', sql`${t.threshold} >= 1`)],
);

/**
 * A tier earned by a user. UNIQUE (user, tier): awarded once, whatever the concurrency.
 * 'withdrawn' = a revocation took the user back below the threshold before fulfilment.
 */
export const userRewards = sqliteTable(
  'user_rewards',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    tierId: integer('tier_id')
      .notNull()
      .references(() => rewardTiers.id),
    status: text('status', { enum: ['awarded', 'fulfilled', 'withdrawn'] })
      .notNull()
      .default('awarded'),
    awardedAt: integer('awarded_at', { mode: 'timestamp_ms' }).notNull(),
    fulfilledAt: integer('fulfilled_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    uniqueIndex('user_rewards_user_tier_unique').on(t.userId, t.tierId),
    check('user_rewards_status_check', sql`${t.status} in ('awarded', 'fulfilled', 'withdrawn')`),
  ],
);

/** Every admin action: who, what, on what, when; written in the action's transaction. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    actorId: integer('actor_id').references(() => users.id),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: integer('target_id'),
    details: text('details').notNull().default('{}'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('audit_log_created_idx').on(t.createdAt)],
);

/**
 * How many ranked users (active, at least one referral) hold each referral count. A rank
 * is 1 + the users on higher scores: a sum over a few hundred distinct scores whatever
 * the number of users. Kept exact by triggers (migration 0007) in the same statement,
 * hence the same transaction, as every change of a user's count or status.
 */
export const scoreCounts = sqliteTable('score_counts', {
  score: integer('score').primaryKey(),
  users: integer('users').notNull().default(0),
});

/**
 * Credited referrals per referrer per UTC day (`day` = days since 1970-01-01), for the
 * dashboard chart: 30 rows to read whatever a referrer's total. Kept exact by triggers on
 * referrals (SQLite migration 0013, PostgreSQL 0003) inside the transaction of every
 * credit, revocation, insert and delete, like score_counts.
 */
export const referralDays = sqliteTable(
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

/**
 * The referral funnel per channel and UTC day (day = ms / 86400000): clicks on the day of
 * the click; sign-ups, confirmed and credited on the day of the referred sign-up (a
 * cohort: of the people who joined through a channel that day, how many confirmed their
 * address and how many count now). Kept exact by triggers on referral_clicks, referrals
 * and users (migration 0020; PL/pgSQL on PostgreSQL) in the transaction of each change,
 * so /admin reads a few hundred rows instead of counting every click and referral.
 */
export const channelDays = sqliteTable(
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

/**
 * The double-sided half of a referral: what the referred friend was offered (the program's
 * friend offer when their referral was credited, kept as it read then), one per friend.
 * Awarded in the credit's transaction, withdrawn with a revocation, fulfilled by an admin.
 */
export const friendRewards = sqliteTable(
  'friend_rewards',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    awardedAt: integer('awarded_at', { mode: 'timestamp_ms' }).notNull(),
    fulfilledAt: integer('fulfilled_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    index('friend_rewards_status_awarded_idx').on(t.status, t.awardedAt),
    check('friend_rewards_status_check', sql`${t.status} in ('awarded', 'fulfilled', 'withdrawn')`),
  ],
);

/**
 * Credited referrals per referrer and UTC month (`period` = YYYYMM), with when that count
 * was reached: the monthly leaderboards. Kept exact by triggers on referrals (SQLite
 * migration 0018, PostgreSQL 0008) in the transaction of every credit and revocation.
 */
export const periodScores = sqliteTable(
  'period_scores',
  {
    period: integer('period').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    referrals: integer('referrals').notNull().default(0),
    reachedAt: integer('reached_at').notNull(),
    /**
     * The referrer's name, leaderboard display choice and status, copied from users by
     * triggers (migration 0023): on insert, and on every change to the user. A month's page
     * then reads one index, as all time reads users_ranking_idx, with no join.
     */
    name: text('name').notNull().default(''),
    leaderboardDisplay: text('leaderboard_display', { enum: LEADERBOARD_DISPLAYS }).notNull().default('name'),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
  },
  (t) => [
    primaryKey({ columns: [t.period, t.userId] }),
    // A month's order, only over rows that count: a page is an index range, not a sort.
    // On SQLite the index also covers name and leaderboard_display (migration 0023),
    // which drizzle-kit cannot express.
    index('period_scores_ranking_idx')
      .on(t.period, desc(t.referrals), t.reachedAt, t.userId)
      .where(sql`status = 'active' and referrals > 0`),
    // A user's months: the copy above follows a rename, and disabling leaves every month.
    index('period_scores_user_idx').on(t.userId),
  ],
);

/** How many active referrers hold each count in each month: ranks and totals, like score_counts. */
export const periodScoreCounts = sqliteTable(
  'period_score_counts',
  {
    period: integer('period').notNull(),
    score: integer('score').notNull(),
    users: integer('users').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.period, t.score] }),
    // Covering: a month's total, ranks and tie groups read the index alone, as all time
    // reads score_counts, instead of a table row per score group.
    index('period_score_counts_cover_idx').on(t.period, t.score, t.users),
  ],
);

/** express-session rows; user_id lets every session of one user be revoked at once. */
export const sessions = sqliteTable(
  'sessions',
  {
    sid: text('sid').primaryKey(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at').notNull(),
    data: text('data').notNull(),
  },
  (t) => [index('sessions_expires_at_idx').on(t.expiresAt), index('sessions_user_id_idx').on(t.userId)],
);

/** Counters for rate-limiter-flexible's SQLite store, shared by every worker process. */
export const rateLimits = sqliteTable('rate_limits', {
  key: text('key').primaryKey(),
  points: integer('points').notNull().default(0),
  expire: integer('expire'),
});

export const API_SCOPES = ['read', 'write'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/**
 * Keys of the integration API. Only the SHA-256 of a key is stored (a key is 256 random
 * bits, so a plain hash is enough); `prefix` is its first characters, to tell keys apart
 * on the admin page. A revoked key stays, for the record.
 */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    scope: text('scope', { enum: API_SCOPES }).notNull(),
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    createdById: integer('created_by_id').references(() => users.id),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  },
  (t) => [check('api_keys_scope_check', sql`${t.scope} in ('read', 'write')`)],
);

/**
 * The first answer to each `Idempotency-Key` of a key, replayed for 24 hours. A row with
 * no status is a request still running: a second one with that key answers 409 meanwhile.
 * `fingerprint` is a hash of the method, path and body: the same key with another
 * request answers 422.
 */
export const apiIdempotency = sqliteTable(
  'api_idempotency',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    apiKeyId: integer('api_key_id')
      .notNull()
      .references(() => apiKeys.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    statusCode: integer('status_code'),
    body: text('body'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('api_idempotency_key_unique').on(t.apiKeyId, t.key), index('api_idempotency_expires_idx').on(t.expiresAt)],
);

export const WEBHOOK_EVENTS = [
  'participant.created',
  'referral.created',
  'referral.credited',
  'referral.held',
  'referral.rejected',
  'referral.revoked',
  'reward.earned',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/**
 * Where webhooks go. `events` is '' for every event, else the chosen types between
 * commas (',referral.credited,reward.earned,'), so one LIKE picks the endpoints of an
 * event on both engines. After a rotation the previous secret still signs until
 * `previous_secret_until`. `failing_since` is the first failure after the last success:
 * three days of that disables the endpoint.
 */
export const webhookEndpoints = sqliteTable(
  'webhook_endpoints',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    url: text('url').notNull(),
    events: text('events').notNull().default(''),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretUntil: integer('previous_secret_until', { mode: 'timestamp_ms' }),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    failingSince: integer('failing_since', { mode: 'timestamp_ms' }),
    disabledAt: integer('disabled_at', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [check('webhook_endpoints_status_check', sql`${t.status} in ('active', 'disabled')`)],
);

/**
 * The webhook outbox: one row per event and endpoint, written in the event's own
 * transaction, sent by a background deliverer under a lease like the email outbox.
 * `message_id` is the Standard Webhooks `webhook-id`, the same on every retry and resend.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    nextAttemptAt: integer('next_attempt_at', { mode: 'timestamp_ms' }).notNull(),
    lockedUntil: integer('locked_until', { mode: 'timestamp_ms' }),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    deliveredAt: integer('delivered_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.status, t.nextAttemptAt),
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.id),
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'sending', 'sent', 'failed')`),
  ],
);

export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export type Referral = typeof referrals.$inferSelect;
export type OutboxRow = typeof emailOutbox.$inferSelect;
export type RewardTier = typeof rewardTiers.$inferSelect;
export type UserReward = typeof userRewards.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type WebhookEndpoint = typeof webhookEndpoints.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
export type FriendReward = typeof friendRewards.$inferSelect;
