import * as pg from './schema.pg.js';
import * as sqlite from './schema.sqlite.js';

/**
 * The tables the app queries, for the engine this process runs on. Repositories import
 * them from here and are typed once, against the SQLite definitions; the PostgreSQL twin
 * (schema.pg.ts) has the same tables and columns with the same TypeScript row types, so
 * the same query code runs on either. `useEngine` is called once, by openDatabase,
 * before anything is queried; ES module bindings are live, so every importer then sees
 * the chosen tables. A process talks to one engine.
 */
export type Dialect = 'sqlite' | 'postgres';

type Tables = typeof sqlite;
const byEngine: Record<Dialect, Tables> = { sqlite, postgres: pg as unknown as Tables };

export let users = sqlite.users;
export let referrals = sqlite.referrals;
export let userSignals = sqlite.userSignals;
export let referralClicks = sqlite.referralClicks;
export let appState = sqlite.appState;
export let appSettings = sqlite.appSettings;
export let userTokens = sqlite.userTokens;
export let emailOutbox = sqlite.emailOutbox;
export let rewardTiers = sqlite.rewardTiers;
export let userRewards = sqlite.userRewards;
export let auditLog = sqlite.auditLog;
export let scoreCounts = sqlite.scoreCounts;
export let referralDays = sqlite.referralDays;
export let sessions = sqlite.sessions;
export let rateLimits = sqlite.rateLimits;
export let apiKeys = sqlite.apiKeys;
export let apiIdempotency = sqlite.apiIdempotency;
export let webhookEndpoints = sqlite.webhookEndpoints;
export let webhookDeliveries = sqlite.webhookDeliveries;
export let referralCodes = sqlite.referralCodes;
export let periodScores = sqlite.periodScores;
export let periodScoreCounts = sqlite.periodScoreCounts;
export let channelDays = sqlite.channelDays;
export let friendRewards = sqlite.friendRewards;
export let engine: Dialect = 'sqlite';

export function useEngine(dialect: Dialect): void {
  const t = byEngine[dialect];
  ({
    users,
    referrals,
    userSignals,
    referralClicks,
    appState,
    appSettings,
    userTokens,
    emailOutbox,
    rewardTiers,
    userRewards,
    auditLog,
    scoreCounts,
    referralDays,
    sessions,
    rateLimits,
    apiKeys,
    apiIdempotency,
    webhookEndpoints,
    webhookDeliveries,
    referralCodes,
    periodScores,
    periodScoreCounts,
    channelDays,
    friendRewards,
  } = t);
  engine = dialect;
}

/** Every table, for Drizzle's relational helpers (the schema argument of drizzle()). */
export const tablesOf = (dialect: Dialect) => byEngine[dialect];

export {
  API_SCOPES,
  CHANNELS,
  SHARE_CHANNELS,
  LEADERBOARD_DISPLAYS,
  REFERRAL_SOURCES,
  REFERRAL_STATUSES,
  TOKEN_PURPOSES,
  WEBHOOK_EVENTS,
} from './schema.sqlite.js';
export type {
  ApiKey,
  ApiScope,
  Channel,
  LeaderboardDisplay,
  NewUser,
  OutboxRow,
  Referral,
  RewardTier,
  TokenPurpose,
  User,
  UserReward,
  FriendReward,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEventType,
} from './schema.sqlite.js';
