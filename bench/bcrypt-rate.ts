/**
 * bcrypt's own compare rate on this machine: `concurrency` compares kept in flight on
 * libuv's thread pool for `durationMs`, nothing else running. Prints one JSON line.
 */
import bcrypt from 'bcrypt';

const [cost, concurrency, durationMs] = process.argv.slice(2).map(Number) as [number, number, number];
const hash = await bcrypt.hash('benchmark password', cost);
let done = 0;
const until = Date.now() + durationMs;
const started = Date.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      await bcrypt.compare('benchmark password', hash);
      done += 1;
    }
  }),
);
process.stdout.write(`${JSON.stringify({ perSecond: done / ((Date.now() - started) / 1000) })}\n`);
