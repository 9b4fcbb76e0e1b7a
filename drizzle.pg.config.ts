import { defineConfig } from 'drizzle-kit';

/** PostgreSQL migrations: `npm run db:generate` writes both dialects (see package.json). */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.pg.ts',
  out: './migrations/pg',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
  strict: true,
  verbose: true,
});
