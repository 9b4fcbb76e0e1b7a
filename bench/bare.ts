/**
 * The yardstick: a bare Express route that sends the same bytes as the app's cached
 * leaderboard page, with the same content type, and nothing else (no middleware).
 */
import fs from 'node:fs';
import express from 'express';

const body = fs.readFileSync(process.argv[2]!);
const app = express();
app.get('/referral/leaderboard', (_req, res) => {
  res.type('html').send(body);
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
