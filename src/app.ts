import express, { type Express } from 'express';
import cookieParser from 'cookie-parser';
import type { Logger } from 'pino';
import { DAY_MS, type Clock } from './clock.js';
import type { Config } from './config.js';
import { SessionStore } from './db/session-store.js';
import type { AppDatabase } from './db/database.js';
import { createCsrf } from './http/csrf.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { readFlash } from './http/flash.js';
import { createPageCache } from './http/page-cache.js';
import { requestLogger } from './http/logging.js';
import { createRateLimits } from './http/rate-limit.js';
import { originCheck, setUpSecurityHeaders } from './http/security.js';
import { setUpSession } from './http/session.js';
import { setUpViews } from './http/views.js';
import { createAssets } from './http/assets.js';
import { createAuthController } from './modules/auth/auth.controller.js';
import { loadCurrentUser, requireAdmin, requireUser } from './modules/users/users.middleware.js';
import { createUserRepository } from './modules/users/users.repository.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { createAuthService } from './modules/auth/auth.service.js';
import { createBcryptHasher, type PasswordHasher } from './modules/auth/password-hasher.js';
import { createDashboardController } from './modules/dashboard/dashboard.controller.js';
import { createHomeController } from './modules/home/home.controller.js';
import { createAdminController } from './modules/admin/admin.controller.js';
import { createAdminRepository } from './modules/admin/admin.repository.js';
import { adminRoutes } from './modules/admin/admin.routes.js';
import { createAdminService } from './modules/admin/admin.service.js';
import { createGrowthRepository } from './modules/admin/growth.js';
import { createRewardsRepository } from './modules/rewards/rewards.repository.js';
import { createRewardsService } from './modules/rewards/rewards.service.js';
import { rewardEarnedData } from './modules/rewards/rewards.resources.js';
import { createDeliverer, type Deliverer } from './modules/mail/deliverer.js';
import { createMailTemplates } from './modules/mail/mail.templates.js';
import { createNotifications } from './modules/mail/notifications.js';
import { createOutboxRepository } from './modules/mail/outbox.repository.js';
import { createTransportFromConfig, type MailTransport } from './modules/mail/transport.js';
import { createSignalHasher } from './modules/referral/fraud.js';
import { createReferralLifecycle } from './modules/referral/lifecycle.service.js';
import { createLeaderboard } from './modules/referral/leaderboard.js';
import { createPeriodRanking } from './modules/referral/period-ranking.repository.js';
import { createReferralController } from './modules/referral/referral.controller.js';
import { createReferralRepository } from './modules/referral/referral.repository.js';
import { referralLinkRoutes, referralRoutes } from './modules/referral/referral.routes.js';
import { createReferralService } from './modules/referral/referral.service.js';
import { createWebhooks } from './modules/webhooks/webhooks.module.js';
import { pruneWebhookDeliveries } from './modules/webhooks/webhooks.repository.js';
import { createAccountController } from './modules/account/account.controller.js';
import { accountRoutes } from './modules/account/account.routes.js';
import { createAccountService } from './modules/account/account.service.js';
import { createApiKeyRepository } from './modules/api/api-keys.repository.js';
import { createApiKeyService } from './modules/api/api-keys.service.js';
import { createApiController } from './modules/api/api.controller.js';
import { buildOpenApiDocument } from './modules/api/api.openapi.js';
import { integrationOperations } from './modules/api/api.operations.js';
import { apiKeyAdminRoutes, integrationRoutes } from './modules/api/api.routes.js';
import { createIntegrationService } from './modules/api/api.service.js';
import { createIdempotencyRepository, pruneIdempotency } from './modules/api/idempotency.repository.js';
import { createIdempotency } from './modules/api/idempotency.service.js';
import { createSettingsController } from './modules/settings/settings.controller.js';
import { programSettings, settingsVersionOf } from './modules/settings/settings.middleware.js';
import { createSettingsRepository } from './modules/settings/settings.repository.js';
import { settingsRoutes } from './modules/settings/settings.routes.js';
import { createSettingsService } from './modules/settings/settings.service.js';

export interface AppDeps {
  config: Config;
  /** SQLite or PostgreSQL; the app never opens or closes it. */
  database: AppDatabase;
  logger: Logger;
  clock: Clock;
  /** Where email goes; by default SMTP_URL, or .eml files under data/mail/. */
  mailer?: MailTransport;
  /** Password hashing; by default bcrypt in low-priority worker threads. */
  hasher?: PasswordHasher;
}

export interface App {
  app: Express;
  sessionStore: SessionStore;
  /** Sends the outbox in the background once started (server.ts starts it). */
  deliverer: Deliverer;
  /** Sends the webhook outbox in the background once started (server.ts starts it). */
  webhookDeliverer: ReturnType<typeof createWebhooks>['deliverer'];
  /** Stops timers and the mail loop; the caller owns the database and the server. */
  close: () => Promise<void>;
}

/**
 * Builds the whole application from its dependencies and never listens: server.ts starts
 * it, tests drive it in-process with supertest.
 */
export function createApp(deps: AppDeps): App {
  const { config, database, logger, clock } = deps;
  const db = database.db;
  const app = express();

  // Composition root: repositories, then services, then controllers.
  const users = createUserRepository(db);
  const hasher = deps.hasher ?? createBcryptHasher({ cost: config.bcryptCost, concurrency: config.bcryptConcurrency });
  const referralRepo = createReferralRepository(db, {
    versionTtlMs: database.dialect === 'postgres' ? 250 : 0,
    commits: () => database.commits,
  });
  const leaderboard = createLeaderboard({
    repo: referralRepo,
    periods: createPeriodRanking(db),
    clock,
    cache: config.leaderboardCache,
    secret: config.sessionSecret,
  });
  const settings = createSettingsService({ database, repo: createSettingsRepository(db), clock, logger });
  const pageCache = createPageCache({ enabled: config.leaderboardCache, version: () => referralRepo.leaderboardVersion(), settingsVersion: settingsVersionOf });
  const notifications = createNotifications({ templates: createMailTemplates(), config, program: settings.peek });
  const mailer = deps.mailer ?? createTransportFromConfig(config, logger);
  const outbox = createOutboxRepository(database);
  const deliverer = createDeliverer({ repo: outbox, transport: mailer, clock, logger, from: config.mailFrom, retentionDays: config.outboxRetentionDays });

  const webhooks = createWebhooks({ database, config, clock, logger, notifications });

  const rewardsRepo = createRewardsRepository(db);
  const rewards = createRewardsService({
    repo: rewardsRepo,
    clock,
    onAwarded: async (tx, user, tier, now) => {
      await notifications.rewardEarned(tx, user, tier, now);
      await webhooks.events.emitInTx(tx, 'reward.earned', rewardEarnedData(user.id, tier, now), now);
    },
    // The committed setting, on the credit's own connection: not this worker's copy in memory.
    friendOfferInTx: async (tx) => (await settings.committedInTx(tx)).friendOffer,
  });
  const signalHash = createSignalHasher(config.sessionSecret);
  const lifecycle = createReferralLifecycle({ config, hash: signalHash, rewards, notifications, events: webhooks.events });
  const referrals = createReferralService({
    database,
    users,
    referrals: referralRepo,
    leaderboard,
    clock,
    hashKey: config.sessionSecret,
    lifecycle,
    hash: signalHash,
  });
  const auth = createAuthService({ database, users, hasher, config, clock, notifications, lifecycle, hash: signalHash, events: webhooks.events });
  const limits = createRateLimits(database, config);
  const account = createAccountService({ database, users, referrals: referralRepo, rewards: rewardsRepo, hasher, notifications, clock, config });
  const sessionStore = new SessionStore(database, {
    defaultMaxAgeMs: config.sessionMaxAgeMs,
    now: () => clock.now().getTime(),
    // At start and every 15 minutes, with the expired rate-limit counters, on both engines;
    // not in tests, where a unit of work in the background would collide with their set-up writes.
    pruneIntervalMs: config.env === 'test' ? undefined : 15 * 60 * 1000,
    alsoPrune: [
      () => limits.prune(),
      () => pruneIdempotency(database, clock.now()),
      () => pruneWebhookDeliveries(database, new Date(clock.now().getTime() - config.outboxRetentionDays * DAY_MS)),
    ],
    onPruneError: (err) => logger.warn({ err }, 'pruning expired sessions and rate limits failed'),
  });

  const authController = createAuthController({ auth, limits, config, sessions: sessionStore, inviterOf: referrals.inviterOf });
  const dashboard = createDashboardController({ config, referrals, auth, rewards, settings });
  const adminService = createAdminService({
    database,
    leaderboard,
    repo: createAdminRepository(db),
    rewardsRepo,
    rewards,
    lifecycle,
    outbox,
    clock,
    growth: createGrowthRepository(db),
  });
  const admin = createAdminController({ service: adminService });
  const referralController = createReferralController({
    service: referrals,
    clock,
    leaderboard,
    limits,
    config,
    pageCache,
    renderDashboard: dashboard.renderDashboard,
  });
  const home = createHomeController({ database, leaderboard, pageCache });

  const apiKeys = createApiKeyService({ database, repo: createApiKeyRepository(db), clock });
  const operations = integrationOperations(
    createIntegrationService({ config, auth, account, referrals, admin: adminService, leaderboard, users, referralRepo, clock }),
  );
  const apiController = createApiController({
    keys: apiKeys,
    document: buildOpenApiDocument(operations, config.baseUrl),
    ratePerMinute: config.apiRatePerMinute,
  });

  const assets = createAssets();
  setUpViews(app, config, assets);
  // Request lines are logged at info; below that level the middleware is left out entirely.
  if (logger.isLevelEnabled('info')) app.use(requestLogger(logger));
  setUpSecurityHeaders(app, config);
  // Before the page cache: it serves a page only if rendered with the current settings.
  app.use(programSettings(settings));
  app.use(pageCache.serve);

  app.use(assets.serve);
  app.get('/healthz', home.getHealth);
  // The integration API: bearer keys, its own JSON parsing, no session or CSRF.
  app.use(
    '/api/v1',
    integrationRoutes({
      operations,
      keys: apiKeys,
      limiter: limits.apiKey,
      idempotency: createIdempotency({ database, repo: createIdempotencyRepository(), clock }),
      getOpenApi: apiController.getOpenApi,
      getReference: apiController.getReference,
    }),
  );

  app.use(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 200 }));
  app.use(express.json({ limit: '100kb', strict: true }));
  app.use(cookieParser(config.sessionSecret));
  setUpSession(app, config, sessionStore);
  app.use(originCheck(config));
  const csrf = createCsrf(config);
  app.use(csrf.protect);
  app.use(csrf.expose);
  app.use(readFlash);
  app.use(loadCurrentUser(users));

  app.get('/', home.getHome);
  app.use('/auth', authRoutes(authController));
  app.get('/dashboard', requireUser, dashboard.getDashboard);
  app.get('/dashboard/qr.svg', requireUser, dashboard.getQr);
  app.post('/dashboard/settings', requireUser, dashboard.postSettings);
  app.use('/account', accountRoutes(createAccountController({ account, limits, config })));
  app.use('/referral', referralRoutes(referralController));
  app.use(referralLinkRoutes(referralController));
  app.use('/admin/webhooks', requireAdmin, webhooks.adminRoutes);
  app.use('/admin/api-keys', requireAdmin, apiKeyAdminRoutes(apiController));
  app.use('/admin/settings', settingsRoutes(createSettingsController({ settings })));
  app.use('/admin', adminRoutes(admin));

  app.use(notFoundHandler);
  app.use(errorHandler(config, logger));

  return {
    app,
    sessionStore,
    deliverer,
    webhookDeliverer: webhooks.deliverer,
    async close() {
      sessionStore.close();
      await Promise.all([deliverer.stop(), webhooks.deliverer.stop()]);
      mailer.close();
      await hasher.close();
    },
  };
}
