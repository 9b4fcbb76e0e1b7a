import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase } from './db/database.js';
import { migrateConfigured } from './db/migrate.js';
import { createLogger } from './http/logging.js';

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
    await migrateConfigured(config);
  }
  if (config.webConcurrency > 1 && cluster.isPrimary) runPrimary(config, logger);
  else runWorker(config, logger);
}

/**
 * One app process: the HTTP server and the mail deliverer. On SIGTERM/SIGINT it stops
 * accepting, lets in-flight requests finish, stops the deliverer, closes the database.
 */
function runWorker(config: Config, logger: Logger): void {
  const database = openDatabase(config);
  const built = createApp({ config, database, logger, clock: systemClock });
  const { app, deliverer } = built;
  const close = () => built.close();
  deliverer.start();

  // Express 5 also calls this on a listen error, which the 'error' handler below reports.
  const onListening = (err?: Error) => {
    if (err) return;
    const { port } = server.address() as AddressInfo;
    logger.info(
      { port, database: config.databaseUrl ? 'postgres' : config.databaseFile, baseUrl: config.baseUrl, worker: cluster.worker?.id },
      `Referral System listening on port ${port}`,
    );
  };
  // Without HOST, Node listens on every interface (IPv6 and IPv4 where available).
  const server = config.host ? app.listen(config.port, config.host, onListening) : app.listen(config.port, onListening);
  server.on('error', (err) => {
    logger.fatal({ err }, 'could not start the server');
    process.exit(1);
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, worker: cluster.worker?.id }, 'shutting down: finishing in-flight requests');
    const finish = async () => {
      try {
        await close();
        await database.close();
        logger.info({ worker: cluster.worker?.id }, 'stopped');
        process.exit(0);
      } catch (err) {
        logger.error({ err, worker: cluster.worker?.id }, 'could not stop cleanly');
        process.exit(1);
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
      process.exit(1);
    }, 13_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // In a cluster the primary retires a worker with disconnect(): it stops routing new
  // connections to it first, so no request lands on a closing server.
  cluster.worker?.on('disconnect', () => shutdown('disconnect'));
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

  const restart = async () => {
    logger.info('graceful restart: replacing workers one at a time');
    for (const old of Object.values(cluster.workers ?? {})) {
      if (!old || stopping) continue;
      const fresh = spawn();
      await listening(fresh);
      if (stopping) return;
      (old as Worker & { replaced?: boolean }).replaced = true;
      old.disconnect();
      await exited(old);
    }
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
      process.exit(1);
    }
    logger.info('cluster stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

await main();
