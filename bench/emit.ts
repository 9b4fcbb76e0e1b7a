/**
 * node --import tsx bench/emit.ts <database file or postgres:// URL> <events>
 *
 * Writes `events` participant.created events through the app's own webhook fan-out
 * (`events.emitInTx`), 500 per transaction, as a burst of sign-ups would: the bench then
 * times how long the running server's deliverer takes to drain them. Prints JSON.
 */
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { createMailTemplates } from '../src/modules/mail/mail.templates.js';
import { createNotifications } from '../src/modules/mail/notifications.js';
import { createWebhooks } from '../src/modules/webhooks/webhooks.module.js';

const [target, countArg] = process.argv.slice(2);
if (!target) throw new Error('usage: bench/emit.ts <database> <events>');
const total = Number(countArg ?? 10_000);
const database = openDatabase(target.startsWith('postgres') ? { databaseUrl: target, databaseFile: '' } : { databaseFile: target });
const config = loadConfig({ NODE_ENV: 'test', DATABASE_FILE: 'unused.db', SESSION_SECRET: 'benchmark-secret-benchmark-secret-0123456' });
const notifications = createNotifications({ templates: createMailTemplates(), config });
const { events } = createWebhooks({ database, config, clock: systemClock, logger: pino({ level: 'silent' }), notifications });

const started = performance.now();
for (let done = 0; done < total;) {
  const batch = Math.min(500, total - done);
  await database.transaction(async (tx) => {
    for (let i = 0; i < batch; i++) {
      const n = done + i;
      await events.emitInTx(tx, 'participant.created', { id: 1_000_000 + n, email: `burst${n}@bench.test`, name: `Burst ${n}` }, new Date());
    }
  });
  done += batch;
}
console.log(JSON.stringify({ events: total, ms: performance.now() - started }));
await database.close();
