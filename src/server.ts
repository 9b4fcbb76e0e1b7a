import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, type AppDatabase } from './db/database.js';
import { migrateConfigured } from './db/migrate.js';
import { createLogger, flushLogs } from './http/logging.js';

/**
 * Exits once the log lines already written are out, or after `ms` whatever stdout does:
 * a stalled log reader never holds a stop (see http/logging.ts).
 */
function exitAfterLogs(code: number, ms = 1_000): void {
  void flushLogs(ms).then(() => process.exit(code));
}

/** The primary's message that retires a worker in a rolling restart. */
const RETIRE = 'referral:retire';
/** How long a retiring worker keeps serving with `Connection: close` before it stops accepting. */
const DRAIN_MS = 1_500;

/** Start-up only: configuration, migrations, listen, and graceful stops and restarts. */
async function main(): Promise<void> {
  // A .env file in the working directory, if present, fills what the environment leaves unset.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config: Config;
  const warnings: string[] = [];
  try {
    config = loadConfig(process.env, { warn: (m) => warnings.push(m) });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config);
  if (cluster.isPrimary) for (const w of warnings) logger.warn(w);

  if (cluster.isPrimary) {
    // Migrations run once, before any worker opens the database.
    await migrateConfigured(config).catch((err: unknown) => cannotOpen(config, err));
  }
  if (config.webConcurrency > 1 && cluster.isPrimary) runPrimary(config, logger);
  else runWorker(config, logger);
}

/**
 * The database cannot be opened or migrated at start (a read-only or missing directory, a
 * full disk, no PostgreSQL server): one line that says what and where, and exit 1.
 */
function cannotOpen(config: Config, err: unknown): never {
  const where = config.databaseUrl ? 'the PostgreSQL database in DATABASE_URL' : `the SQLite database ${path.resolve(config.databaseFile)}`;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = `${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
  const hint = config.databaseUrl
    ? 'Check that the server is running and the URL is right.'
    : 'Check that its directory exists and is writable, and that the disk is not full.';
  console.error(`Cannot open ${where}: ${reason}. ${hint}`);
  process.exit(1);
}

/**
 * One app process: the HTTP server and the mail deliverer. On SIGTERM/SIGINT it stops
 * accepting, lets in-flight requests finish, stops the deliverer, closes the database.
 */
function runWorker(config: Config, logger: Logger): void {
  let database: AppDatabase;
  try {
    database = openDatabase(config);
  } catch (err) {
    cannotOpen(config, err);
  }
  const built = createApp({ config, database, logger, clock: systemClock });
  const { app, deliverer, webhookDeliverer } = built;
  const close = () => built.close();
  deliverer.start();
  webhookDeliverer.start();

  // While a worker drains (retiring in a restart, or stopping), every response it sends
  // carries `Connection: close` and ends its connection: a client never has a kept-alive
  // connection cut under a request it is sending.
  let draining = false;
  const server = http.createServer((req, res) => {
    if (draining) res.shouldKeepAlive = false;
    app(req, res);
  });
  const onListening = () => {
    const { port } = server.address() as AddressInfo;
    logger.info(
      { port, database: config.databaseUrl ? 'postgres' : config.databaseFile, baseUrl: config.baseUrl, worker: cluster.worker?.id },
      `Referral System listening on port ${port}`,
    );
  };
  // Without HOST, Node listens on every interface (IPv6 and IPv4 where available).
  if (config.host) server.listen(config.port, config.host, onListening);
  else server.listen(config.port, onListening);
  server.on('error', (err) => {
    logger.fatal({ err }, 'could not start the server');
    exitAfterLogs(1);
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    logger.info({ signal, worker: cluster.worker?.id }, 'shutting down: finishing in-flight requests');
    const finish = async () => {
      try {
        await close();
        await database.close();
        logger.info({ worker: cluster.worker?.id }, 'stopped');
        exitAfterLogs(0);
      } catch (err) {
        logger.error({ err, worker: cluster.worker?.id }, 'could not stop cleanly');
        exitAfterLogs(1);
      }
    };
    server.close(() => void finish());
    server.closeIdleConnections();
    setTimeout(() => {
      logger.warn('in-flight requests did not finish within 10 s; closing anyway');
      server.closeAllConnections();
    }, 10_000).unref();
    // A stop always ends: whatever still holds on (a connection pool waiting for a
    // client, a mail server that never answers) gets three more seconds.
    setTimeout(() => {
      logger.error({ worker: cluster.worker?.id }, 'shutdown did not finish within 13 s; exiting');
      exitAfterLogs(1, 500);
    }, 13_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (cluster.worker) {
    // Retired in a rolling restart (its replacement already listens): for DRAIN_MS it
    // keeps serving, new connections included, but closes each connection after its
    // response, so busy keep-alive connections end on the client's terms; then it stops
    // accepting and closes the few connections that stayed idle all along.
    process.on('message', (message) => {
      if (message !== RETIRE || draining) return;
      draining = true;
      setTimeout(() => shutdown('retire'), DRAIN_MS).unref();
    });
    // The primary went away: nothing routes connections here any more.
    cluster.worker.on('disconnect', () => shutdown('disconnect'));
  } else {
    // One process has no one to hand over to: a restart is a stop and a start (systemd).
    process.on('SIGHUP', () => logger.warn('SIGHUP restarts workers only with WEB_CONCURRENCY of 2 or more; ignored'));
  }
}

/**
 * WEB_CONCURRENCY > 1: N workers share the port (node:cluster) and the SQLite file;
 * sessions, rate limits and the leaderboard version live in that file, so any worker
 * can serve any request. A crashed worker is replaced; SIGHUP replaces the workers one
 * at a time (a graceful restart with no refused requests); SIGTERM stops them all.
 */
function runPrimary(config: Config, logger: Logger): void {
  let stopping = false;
  const spawn = (): Worker => cluster.fork();
  const listening = (worker: Worker) => new Promise<void>((resolve) => worker.once('listening', () => resolve()));
  const exited = (worker: Worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve())));

  for (let i = 0; i < config.webConcurrency; i++) spawn();
  logger.info({ workers: config.webConcurrency }, 'cluster started');

  cluster.on('exit', (worker, code, signal) => {
    if (stopping || worker.exitedAfterDisconnect || (worker as Worker & { replaced?: boolean }).replaced) return;
    logger.error({ worker: worker.id, code, signal }, 'worker died; starting a new one');
    setTimeout(spawn, 500);
  });

  let restarting = false;
  const restart = async () => {
    if (restarting) return;
    restarting = true;
    logger.info('graceful restart: replacing workers one at a time');
    for (const old of Object.values(cluster.workers ?? {})) {
      if (!old || stopping) continue;
      const fresh = spawn();
      await listening(fresh);
      if (stopping) break;
      (old as Worker & { replaced?: boolean }).replaced = true;
      old.send(RETIRE);
      // A retiring worker ends within DRAIN_MS + 13 s by its own caps; this is the last resort.
      const killer = setTimeout(() => old.process.kill('SIGKILL'), DRAIN_MS + 15_000);
      await exited(old);
      clearTimeout(killer);
    }
    restarting = false;
    logger.info('graceful restart done');
  };
  process.on('SIGHUP', () => void restart());

  // SIGTERM goes to each worker as a signal rather than a disconnect(): a worker still
  // booting (mid-SIGHUP) has no handler yet and simply ends, where a disconnect would
  // leave it waiting on a channel that is gone. Any worker left after 15 s is killed.
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping every worker');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w));
    for (const w of workers) w.process.kill('SIGTERM');
    const cap = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 15_000).unref());
    const outcome = await Promise.race([Promise.all(workers.map(exited)).then(() => 'done' as const), cap]);
    if (outcome === 'late') {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      logger.error('workers did not stop within 15 s; killed');
      exitAfterLogs(1);
      return;
    }
    logger.info('cluster stopped');
    exitAfterLogs(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

await main();
