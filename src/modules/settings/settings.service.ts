import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { Tx } from '../../db/client.js';
import type { Database } from '../../db/database.js';
import type { User } from '../../db/schema.js';
import { auditInTx } from '../audit/audit.repository.js';
import type { SettingRow, SettingsRepository } from './settings.repository.js';
import { DEFAULT_SETTINGS, SETTING_KEYS, type ProgramSettings } from './settings.schemas.js';

/** The settings with the version they were read at (app_state 'settings_version'). */
export interface CurrentSettings extends ProgramSettings {
  readonly version: number;
}

/** How old the in-memory settings may get before a worker checks the version again. */
export const SETTINGS_REFRESH_MS = 1_000;

function fromRows(rows: SettingRow[], version: number): CurrentSettings {
  const byKey = new Map(rows.map((r) => [r.key, r.value]));
  const value = (field: keyof ProgramSettings) => byKey.get(SETTING_KEYS[field]) ?? DEFAULT_SETTINGS[field];
  return Object.freeze({
    name: value('name'),
    tagline: value('tagline'),
    friendOffer: value('friendOffer'),
    supportEmail: value('supportEmail'),
    version,
  });
}

const toRows = (settings: ProgramSettings): SettingRow[] =>
  (Object.keys(SETTING_KEYS) as (keyof ProgramSettings)[]).map((field) => ({ key: SETTING_KEYS[field], value: settings[field] }));

const plain = ({ name, tagline, friendOffer, supportEmail }: ProgramSettings): ProgramSettings => ({ name, tagline, friendOffer, supportEmail });

/**
 * The program settings, read on every page and email, so kept in memory per process.
 * A change made here is in memory as soon as it commits. Changes made by other workers or
 * servers are noticed through a counter in app_state that every change bumps in its own
 * transaction: a worker reads that one row at most once every SETTINGS_REFRESH_MS, and
 * the settings themselves only when it moved. Wall-clock time, not the injected clock:
 * this is about real time passing between processes, which a test clock does not model.
 */
export function createSettingsService(deps: { database: Database; repo: SettingsRepository; clock: Clock; logger?: Logger; refreshMs?: number }) {
  const { database, repo, clock } = deps;
  const refreshMs = deps.refreshMs ?? SETTINGS_REFRESH_MS;
  let memo: { settings: CurrentSettings; checkedAt: number } | undefined;
  let inflight: Promise<CurrentSettings> | undefined;
  // Bumped by every local change: a read that started before one must not overwrite it.
  let localChanges = 0;

  async function load(): Promise<CurrentSettings> {
    // The version first, then the rows: rows newer than their version only cost one more
    // read later; the other order could pin old rows to a new version.
    const version = await repo.version();
    if (memo && memo.settings.version === version) return memo.settings;
    return fromRows(await repo.rows(), version);
  }

  function refresh(): Promise<CurrentSettings> {
    if (inflight) return inflight;
    const started = localChanges;
    inflight = load()
      .then(
        (settings) => {
          if (localChanges === started) memo = { settings, checkedAt: Date.now() };
          return memo?.settings ?? settings;
        },
        (err: unknown) => {
          // The database is unreachable: pages go on with what this worker last knew (the
          // requests that need the database fail on their own) and the next check waits
          // its turn, so an outage does not make every request wait for the database.
          deps.logger?.warn({ err }, 'reading the program settings failed');
          if (!memo) return fromRows([], -1);
          memo = { ...memo, checkedAt: Date.now() };
          return memo.settings;
        },
      )
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  const fresh = () => memo !== undefined && Date.now() - memo.checkedAt < refreshMs;

  return {
    /** The settings, at most SETTINGS_REFRESH_MS older than another worker's change. */
    current: (): Promise<CurrentSettings> => (fresh() ? Promise.resolve(memo!.settings) : refresh()),
    /** The settings in memory when they need no check yet, else undefined (call current()). */
    ifFresh: (): CurrentSettings | undefined => (fresh() ? memo!.settings : undefined),
    /**
     * The settings this worker knows now, without waiting (emails are rendered
     * synchronously); when they are due for a check, one starts in the background.
     */
    peek: (): CurrentSettings => {
      if (!fresh()) void refresh();
      return memo?.settings ?? fromRows([], -1);
    },
    /** The settings as committed, read in the caller's transaction (not this worker's copy in memory). */
    committedInTx: async (tx: Tx): Promise<ProgramSettings> => plain(fromRows(await repo.rowsInTx(tx), 0)),
    /** Saves every setting, counts the change and audits it with before and after, in one transaction. */
    update: async (actor: Pick<User, 'id'>, input: ProgramSettings): Promise<CurrentSettings> => {
      const now = clock.now();
      const after = plain(input);
      const version = await database.transaction(async (tx) => {
        const before = fromRows(await repo.rowsInTx(tx), 0);
        await repo.putInTx(tx, toRows(after), now);
        const next = await repo.bumpVersionInTx(tx);
        await auditInTx(tx, {
          actorId: actor.id,
          action: 'settings.update',
          targetType: 'settings',
          targetId: null,
          details: { before: plain(before), after },
          now,
        });
        return next;
      });
      localChanges += 1;
      const settings = Object.freeze({ ...after, version });
      memo = { settings, checkedAt: Date.now() };
      return settings;
    },
  };
}

export type SettingsService = ReturnType<typeof createSettingsService>;
