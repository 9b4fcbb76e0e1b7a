import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

/**
 * PostgreSQL for tests. `npm run test:pg` sets TEST_PG_URL (a server URL without a
 * database name); every test file then gets its own database, created from a template
 * that the global setup migrated once (the analogue of copying a migrated SQLite file).
 * psql runs synchronously so that makeTestApp() stays a plain function.
 */
export const pgServerUrl = process.env.TEST_PG_URL?.replace(/\/+$/, '');
export const TEMPLATE = 'referral_test_template';

export function psql(sqlText: string, database = 'postgres'): void {
  if (!pgServerUrl) throw new Error('TEST_PG_URL is not set');
  execFileSync('psql', [`${pgServerUrl}/${database}`, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sqlText], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new database with every migration applied; returns its URL. */
export function createTestPgDatabase(): { url: string; drop: () => void } {
  const name = `referral_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  psql(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
  return {
    url: `${pgServerUrl}/${name}`,
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
