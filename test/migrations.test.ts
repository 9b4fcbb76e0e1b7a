import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { describe, expect, it } from 'vitest';
import { openSqlite } from '../src/db/database.js';
import { runMigrations } from '../src/db/migrate.js';
import { referralDays, referrals, users, userTokens } from '../src/db/schema.js';
import { migrationsDir } from '../src/paths.js';
import { tempDir } from './helpers/app.js';
import { onPostgres } from './helpers/db.js';

/** The migrations folder as it was at a given migration: the journal cut after `tag`. */
function migrationsUpTo(tag: string): string {
  const dir = tempDir('migrations-');
  fs.cpSync(migrationsDir.sqlite, dir, { recursive: true });
  const journalFile = path.join(dir, 'meta/_journal.json');
  const journal = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
  const cut = journal.entries.findIndex((e) => e.tag === tag);
  expect(cut).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, cut + 1);
  fs.writeFileSync(journalFile, JSON.stringify(journal));
  return dir;
}

// An upgrade through SQLite's own migration history; PostgreSQL's schema starts at its
// first migration, with nothing from before earned credit to carry over.
describe.skipIf(onPostgres)('upgrading a SQLite database from before earned credit and per-day counts', () => {
  it('keeps every credited referral counted, confirms existing accounts and carries open reset links over', async () => {
    const database = openSqlite(path.join(tempDir(), 'app.db'));
    const db = database.db;
    migrate(drizzle(database.writer), { migrationsFolder: migrationsUpTo('0008_covering_ranking_index') });
    const raw = database.writer;
    const insertUser = raw.prepare(
      `insert into users (name, email, email_normalized, password_hash, referral_code, referrals_count, created_at, last_referral_at)
       values (?, ?, ?, 'x', ?, ?, ?, ?)`,
    );
    insertUser.run('Old Referrer', 'old@example.com', 'old@example.com', 'AAAAAAAA', 1, 1000, 2000);
    insertUser.run('Old Friend', 'friend@example.com', 'friend@example.com', 'BBBBBBBB', 0, 2000, null);
    insertUser.run('Revoked Friend', 'gone@example.com', 'gone@example.com', 'CCCCCCCC', 0, 2500, null);
    raw
      .prepare(
        `insert into referrals (referrer_id, referred_user_id, referred_email, source, status, created_at) values (1, 2, 'friend@example.com', 'signup', 'credited', 2000)`,
      )
      .run();
    raw
      .prepare(
        `insert into referrals (referrer_id, referred_user_id, referred_email, source, status, created_at, revoked_at) values (1, 3, 'gone@example.com', 'signup', 'revoked', 2500, 3000)`,
      )
      .run();
    raw.prepare(`insert into password_reset_tokens (user_id, token_hash, expires_at, created_at) values (1, 'hash-of-open-link', 9999999999999, 2000)`).run();

    await runMigrations(database);

    const rows = await db.select().from(referrals).orderBy(referrals.id);
    expect(rows.map((r) => [r.status, r.creditedAt?.getTime()])).toEqual([
      ['credited', 2000],
      ['revoked', 2500],
    ]);
    expect(await db.select().from(users).where(eq(users.id, 1))).toMatchObject([{ referralsCount: 1 }]);
    // The dashboard chart's per-day counts start from the credited referrals already there.
    expect(await db.select().from(referralDays)).toEqual([{ referrerId: 1, day: 0, credited: 1 }]);
    expect((await db.select({ at: users.emailVerifiedAt }).from(users)).every((u) => u.at instanceof Date)).toBe(true);
    expect(await db.select().from(userTokens)).toMatchObject([{ userId: 1, purpose: 'password_reset', tokenHash: 'hash-of-open-link', usedAt: null }]);
    expect(raw.prepare("select count(*) as n from sqlite_master where name = 'password_reset_tokens'").get()).toEqual({ n: 0 });
    expect(raw.pragma('foreign_key_check')).toEqual([]);
    expect(raw.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    await database.close();
  });
});
