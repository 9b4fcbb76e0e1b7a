import { openPostgres } from '../../src/db/database.js';
import { runMigrations } from '../../src/db/migrate.js';
import { pgServerUrl, psql, TEMPLATE } from './pg.js';

/** Under `npm run test:pg`: (re)creates the migrated template every test database copies. */
export default async function setup(): Promise<void> {
  if (!pgServerUrl) return;
  psql(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
  psql(`CREATE DATABASE ${TEMPLATE}`);
  const database = openPostgres(`${pgServerUrl}/${TEMPLATE}`, { max: 1 });
  try {
    await runMigrations(database);
  } finally {
    await database.close();
  }
}
