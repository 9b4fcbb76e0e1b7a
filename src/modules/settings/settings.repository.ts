import { eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client.js';
import { appSettings, appState } from '../../db/schema.js';
import { prepared } from '../../db/sql.js';

/** The app_state row that counts changes of app_settings (see createSettingsService). */
const VERSION_KEY = 'settings_version';

export interface SettingRow {
  key: string;
  value: string;
}

export function createSettingsRepository(db: Db) {
  // Read by every worker at most once a second: a one-row primary-key lookup.
  const versionStmt = prepared(db.select({ value: appState.value }).from(appState).where(eq(appState.key, VERSION_KEY)));
  const rowsStmt = prepared(db.select({ key: appSettings.key, value: appSettings.value }).from(appSettings));

  return {
    /** How many times the settings were changed; 0 before the first change. */
    version: async (): Promise<number> => (await versionStmt.get())?.value ?? 0,
    rows: (): Promise<SettingRow[]> => rowsStmt.all(),
    rowsInTx: (tx: Tx): Promise<SettingRow[]> => tx.select({ key: appSettings.key, value: appSettings.value }).from(appSettings),
    async putInTx(tx: Tx, entries: SettingRow[], now: Date): Promise<void> {
      for (const { key, value } of entries) {
        await tx
          .insert(appSettings)
          .values({ key, value, updatedAt: now })
          .onConflictDoUpdate({ target: appSettings.key, set: { value, updatedAt: now } });
      }
    },
    /** Counts one change and returns the new version; the row lock orders concurrent changes. */
    async bumpVersionInTx(tx: Tx): Promise<number> {
      const [row] = await tx
        .insert(appState)
        .values({ key: VERSION_KEY, value: 1 })
        .onConflictDoUpdate({ target: appState.key, set: { value: sql`${appState.value} + 1` } })
        .returning({ value: appState.value });
      return row!.value;
    },
  };
}

export type SettingsRepository = ReturnType<typeof createSettingsRepository>;
