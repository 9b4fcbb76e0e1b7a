import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../clock.js';
import type { User } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { periodOf, type PeriodRanking } from './period-ranking.repository.js';
import type { RankedRow, RankingSource, RankKey, ReferralRepository } from './referral.repository.js';
import { publicName } from '../users/users.resources.js';

export const PAGE_SIZE = 20;
export const AROUND = 10;
/**
 * Typed pages up to this one are served to anyone as often as they like; deeper typed
 * pages walk rows inside a tie group (see typedPageRows) and are rate limited per client.
 * Pages reached through the sealed prev/next links seek by key at any depth.
 */
export const FREE_TYPED_PAGES = 50;

/** All time, or one UTC month as YYYYMM. */
export type Period = 'all' | number;

/** `?period=` as the SPEC spells it: all, month (the current UTC month) or YYYY-MM. */
export const PERIOD_PATTERN = /^(all|month|\d{4}-(0[1-9]|1[0-2]))$/;

/** The ranking a valid `?period=` names, at `now`. */
export function periodFrom(text: string, now: Date): Period {
  if (text === 'all') return 'all';
  if (text === 'month') return periodOf(now);
  return Number(text.slice(0, 4)) * 100 + Number(text.slice(5, 7));
}

/** YYYYMM as the SPEC spells it in URLs: YYYY-MM. */
export const periodText = (period: number): string => `${Math.floor(period / 100)}-${String(period % 100).padStart(2, '0')}`;

export interface LeaderboardEntry {
  rank: number;
  name: string;
  referrals: number;
}

/**
 * One page of the ranking. `entries` is the public part; `keys` (the sort key of each
 * row, ids included) stays on the server: it serves the highlight and the cursors.
 */
export interface LeaderboardPage {
  /** The ranking version this page was computed from (app_state.leaderboard_version). */
  version: number;
  period: Period;
  page: number;
  pageSize: number;
  totalPages: number;
  totalRanked: number;
  generatedAt: Date;
  entries: LeaderboardEntry[];
  keys: RankKey[];
  /** Opaque, sealed cursors for the neighbouring pages (seek by key, not OFFSET). */
  nextCursor: string | null;
  prevCursor: string | null;
}

/**
 * Competition ranking (1, 2, 2, 4): a rank is one more than the number of ranked users
 * with strictly more referrals; equal counts share it, and the order inside a tie is who
 * got there first. For a window of rows, `above` is the number of users above its
 * highest count and `scores` the score_counts rows inside the window (highest first):
 * running sums give every rank from two small queries.
 */
export function rankRows(rows: { referrals: number }[], scores: { score: number; users: number }[], above = 0): number[] {
  return rows.map((r) => {
    let count = above;
    for (const s of scores) if (s.score > r.referrals) count += s.users;
    return count + 1;
  });
}

/**
 * Where row `offset` (0-based) of the ranking sits: the score of its tie group and how
 * many of that group rank before it. `groups` are score_counts rows, highest score first.
 */
export function locateRow(groups: readonly { score: number; users: number }[], offset: number): { score: number; skip: number } | null {
  let before = 0;
  for (const g of groups) {
    if (before + g.users > offset) return { score: g.score, skip: offset - before };
    before += g.users;
  }
  return null;
}

/**
 * Ranks for a window of ranked rows, from score_counts (never a count over users).
 * `fromTop`: the window starts at the first row of the ranking (page 1), so nobody ranks
 * above it and that count is not read.
 */
async function ranksOf(repo: RankingSource, rows: { referrals: number }[], fromTop = false): Promise<number[]> {
  if (rows.length === 0) return [];
  let low = Infinity;
  let high = -Infinity;
  for (const r of rows) {
    low = Math.min(low, r.referrals);
    high = Math.max(high, r.referrals);
  }
  const [scores, above] = await Promise.all([repo.scoresBetween(low, high), fromTop ? 0 : repo.countAbove(high)]);
  return rankRows(rows, scores, above);
}

/**
 * Cursors carry a row's sort key (which includes its id, not public), so they are
 * sealed with AES-256-GCM: opaque to the client, tamper-evident to the server, and
 * valid in every worker because the key derives from the shared secret.
 */
/** A cursor's content: version, page, direction, the row's key, and the ranking it belongs to. */
interface Sealed {
  v: number;
  p: number;
  d: 'a' | 'b';
  k: [number, number, number];
  q: Period;
}

function cursorCodec(secret: string) {
  const key = crypto.createHash('sha256').update(`leaderboard-cursor:${secret}`).digest();
  return {
    seal(payload: Sealed): string {
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    },
    open(token: string): Sealed | null {
      try {
        const raw = Buffer.from(token, 'base64url');
        if (raw.length < 29 || raw.length > 200) return null;
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(12, 28));
        const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
        return JSON.parse(text) as Sealed;
      } catch {
        return null;
      }
    },
  };
}

const keyOf = (row: RankedRow): RankKey => ({ referrals: row.referrals, reachedAt: row.reachedAt, id: row.id });
const keyOfUser = (user: Pick<User, 'id' | 'referralsCount' | 'lastReferralAt'>): RankKey => ({
  referrals: user.referralsCount,
  reachedAt: user.lastReferralAt?.getTime() ?? 0,
  id: user.id,
});

export interface LeaderboardDeps {
  repo: ReferralRepository;
  /** The monthly rankings, with the same interface as the all-time one. */
  periods: PeriodRanking;
  clock: Clock;
  cache: boolean;
  secret: string;
  ttlMs?: number;
  maxPages?: number;
  maxWindows?: number;
}

/** A user's place in the ranking with the rows around it (`?around=me`). */
export interface AroundView {
  entries: LeaderboardEntry[];
  myIndex: number;
  rank: number;
  totalRanked: number;
  generatedAt: Date;
}

export function createLeaderboard(deps: LeaderboardDeps) {
  const { repo, clock } = deps;
  const cursors = cursorCodec(deps.secret);
  // Bounded by entries; the TTL is only a safety net, invalidation is by version.
  const cache = new LRUCache<string, LeaderboardPage>({ max: deps.maxPages ?? 500, ttl: deps.ttlMs ?? 60_000 });
  // The tie group sizes change only with the ranking version: one read serves every deep
  // typed page of a version, per ranking.
  const groups = new LRUCache<Period, { version: number; rows: { score: number; users: number }[] }>({ max: 50 });
  // ?around=me windows by user id, each tagged with the version it was computed from.
  const windows = new LRUCache<number, { version: number; view: AroundView }>({ max: deps.maxWindows ?? 10_000, ttl: deps.ttlMs ?? 60_000 });

  const sourceOf = (period: Period): RankingSource => (period === 'all' ? repo : deps.periods(period));

  /**
   * A typed page. The first FREE_TYPED_PAGES walk at most 1,000 index entries, cheaper
   * than reading the group sizes; deeper pages skip whole tie groups by their sizes and
   * walk inside one group only.
   */
  async function typedPageRows(period: Period, page: number, version: number): Promise<RankedRow[]> {
    const source = sourceOf(period);
    const offset = (page - 1) * PAGE_SIZE;
    if (page <= FREE_TYPED_PAGES) return source.rankedPage(offset, PAGE_SIZE);
    let known = deps.cache ? groups.get(period) : undefined;
    if (known?.version !== version) {
      known = { version, rows: await source.scoreGroups() };
      if (deps.cache) groups.set(period, known);
    }
    const at = locateRow(known.rows, offset);
    return at ? source.rankedFromGroup(at.score, at.skip, PAGE_SIZE) : [];
  }

  async function build(period: Period, page: number, rows: RankedRow[], totalRanked: number, version: number): Promise<LeaderboardPage> {
    const totalPages = Math.max(1, Math.ceil(totalRanked / PAGE_SIZE));
    const ranks = await ranksOf(sourceOf(period), rows, page === 1);
    const first = rows[0];
    const last = rows[rows.length - 1];
    return {
      version,
      period,
      page,
      pageSize: PAGE_SIZE,
      totalPages,
      totalRanked,
      generatedAt: clock.now(),
      entries: rows.map((r, i) => ({ rank: ranks[i]!, name: publicName(r.name, r.display), referrals: r.referrals })),
      keys: rows.map(keyOf),
      nextCursor: last && page < totalPages ? cursors.seal({ v: version, p: page + 1, d: 'a', k: [last.referrals, last.reachedAt, last.id], q: period }) : null,
      prevCursor: first && page > 1 ? cursors.seal({ v: version, p: page - 1, d: 'b', k: [first.referrals, first.reachedAt, first.id], q: period }) : null,
    };
  }

  /**
   * A cursor from this version of this ranking, for this page, seeks by key; anything
   * else (a typed URL, a stale or forged cursor, one from another period) falls back to
   * counting rows.
   */
  function seekable(period: Period, page: number, cursor: string | undefined, version: number) {
    const sealed = cursor ? cursors.open(cursor) : null;
    return sealed && sealed.v === version && sealed.p === page && sealed.q === period ? sealed : null;
  }

  async function compute(period: Period, page: number, cursor: string | undefined, version: number): Promise<LeaderboardPage> {
    const source = sourceOf(period);
    const totalRanked = await source.totalRanked();
    const totalPages = Math.max(1, Math.ceil(totalRanked / PAGE_SIZE));
    if (page > totalPages) throw notFound(`There is no page ${page}; the leaderboard has ${totalPages}.`);
    const sealed = seekable(period, page, cursor, version);
    if (sealed) {
      const key = { referrals: sealed.k[0], reachedAt: sealed.k[1], id: sealed.k[2] };
      const rows = await (sealed.d === 'a' ? source.rankedAfter(key, PAGE_SIZE) : source.rankedBefore(key, PAGE_SIZE));
      return build(period, page, rows, totalRanked, version);
    }
    return build(period, page, await typedPageRows(period, page, version), totalRanked, version);
  }

  /**
   * A page of the public ranking, all time or of one month; past the last page is a 404,
   * page 1 always exists (a month with no credits has no entries).
   */
  async function getPage(page: number, cursor?: string, period: Period = 'all'): Promise<LeaderboardPage> {
    const version = await repo.leaderboardVersion();
    if (!deps.cache) return compute(period, page, cursor, version);
    const key = `${period}:${page}`;
    const hit = cache.get(key);
    if (hit && hit.version === version) return hit;
    const fresh = await compute(period, page, cursor, version);
    cache.set(key, fresh);
    return fresh;
  }

  /** True when serving this page would walk rows rather than seek: what the deep-page limit counts. */
  async function isDeepTypedPage(page: number, cursor?: string, period: Period = 'all'): Promise<boolean> {
    return page > FREE_TYPED_PAGES && !seekable(period, page, cursor, await repo.leaderboardVersion());
  }

  /** A user's competition rank, from score_counts: the same cost at 1,000 or 1,000,000 users. */
  async function rankOf(user: Pick<User, 'status' | 'referralsCount'>): Promise<number | null> {
    if (user.status !== 'active' || user.referralsCount < 1) return null;
    return (await repo.countAbove(user.referralsCount)) + 1;
  }

  /**
   * The rows just above and below a ranked user, found by seeking both ways from their
   * own key: two index seeks and two score_counts lookups, whatever their depth. The
   * window is kept per user for as long as the ranking version stands (any change to a
   * ranked user's count, status, name or timing bumps it), so a user who comes back to
   * their position costs one version read.
   */
  async function around(user: Pick<User, 'id' | 'name' | 'leaderboardDisplay' | 'status' | 'referralsCount' | 'lastReferralAt'>): Promise<AroundView | null> {
    if (user.status !== 'active' || user.referralsCount < 1) return null;
    const version = await repo.leaderboardVersion();
    const hit = deps.cache ? windows.get(user.id) : undefined;
    if (hit && hit.version === version) return hit.view;
    const key = keyOfUser(user);
    const me: RankedRow = { id: user.id, name: user.name, display: user.leaderboardDisplay, referrals: user.referralsCount, reachedAt: key.reachedAt };
    const [before, after] = await Promise.all([repo.rankedBefore(key, AROUND), repo.rankedAfter(key, AROUND)]);
    const rows = [...before, me, ...after];
    const ranks = await ranksOf(repo, rows);
    const myIndex = rows.indexOf(me);
    const top = await getPage(1);
    const view: AroundView = {
      entries: rows.map((r, i) => ({ rank: ranks[i]!, name: publicName(r.name, r.display), referrals: r.referrals })),
      myIndex,
      rank: ranks[myIndex]!,
      totalRanked: top.totalRanked,
      generatedAt: top.generatedAt,
    };
    // Only a window computed from the version read above is kept: a change that landed
    // while it was computed makes it stale, and the next request recomputes.
    if (deps.cache && top.version === version) windows.set(user.id, { version, view });
    return view;
  }

  return { getPage, isDeepTypedPage, rankOf, around };
}

export type Leaderboard = ReturnType<typeof createLeaderboard>;
