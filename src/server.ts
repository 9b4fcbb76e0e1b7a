import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/client.js';
import { runMigrations } from './db/migrate.js';
import { createLogger } from './http/logging.js';

/** Start-up only: configuration, migrations, listen, and a graceful stop. */
function main(): void {
  // A .env file in the working directory, if present, fills what the environment leaves unset.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config;
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
  for (const w of warnings) logger.warn(w);

  const db = openDatabase(config.databaseFile);
  runMigrations(db);
  const { app, deliverer, close } = createApp({ config, db, logger, clock: systemClock });
  deliverer.start();

  const onListening = () => {
    const { port } = server.address() as AddressInfo;
    logger.info({ port, database: config.databaseFile, baseUrl: config.baseUrl }, `Referral System listening on port ${port}`);
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
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Stop accepting, let requests in flight finish, then close the database.
    server.close(async () => {
      await close();
      db.$client.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      logger.warn('in-flight requests did not finish within 10 s; closing anyway');
      server.closeAllConnections();
    }, 10_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
