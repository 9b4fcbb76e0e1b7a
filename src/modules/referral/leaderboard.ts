import { LRUCache } from 'lru-cache';
import type { Clock } from '../../clock.js';
import type { User } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import type { ReferralRepository } from './referral.repository.js';

export const PAGE_SIZE = 20;

export interface LeaderboardEntry {
  rank: number;
  name: string;
  referrals: number;
}

/** One public page: nothing in it identifies anyone beyond the display name. */
export interface LeaderboardPage {
  page: number;
  pageSize: number;
  totalPages: number;
  totalRanked: number;
  generatedAt: Date;
  entries: LeaderboardEntry[];
}

export interface Standing {
  rank: number;
  /** 0-based place in the full ordering, which fixes the page and the row. */
  position: number;
  page: number;
}

/**
 * Competition ranking (1, 2, 2, 4): a user's rank is one more than the number of ranked
 * users with strictly more referrals; equal counts share it, and the list order inside a
 * tie is who got there first.
 */
export function rankPage(rows: { name: string; referrals: number }[], firstRank: number, offset: number): LeaderboardEntry[] {
  let rank = firstRank;
  return rows.map((row, i) => {
    if (i > 0 && row.referrals !== rows[i - 1]!.referrals) rank = offset + i + 1;
    return { rank, name: row.name, referrals: row.referrals };
  });
}

export function createLeaderboard(deps: { repo: ReferralRepository; clock: Clock; cache: boolean; ttlMs?: number; maxPages?: number }) {
  const { repo, clock } = deps;
  // Bounded by entries; the TTL is only a safety net, invalidation is by version.
  const cache = new LRUCache<number, LeaderboardPage & { version: number }>({
    max: deps.maxPages ?? 200,
    ttl: deps.ttlMs ?? 60_000,
  });

  function compute(page: number): LeaderboardPage {
    const totalRanked = repo.totalRanked();
    const totalPages = Math.max(1, Math.ceil(totalRanked / PAGE_SIZE));
    if (page > totalPages) throw notFound(`There is no page ${page}; the leaderboard has ${totalPages}.`);
    const offset = (page - 1) * PAGE_SIZE;
    const rows = repo.rankedPage(offset, PAGE_SIZE);
    const firstRank = rows[0] ? repo.countAbove(rows[0].referrals) + 1 : 1;
    return { page, pageSize: PAGE_SIZE, totalPages, totalRanked, generatedAt: clock.now(), entries: rankPage(rows, firstRank, offset) };
  }

  /** A page of the public ranking; past the last page is a 404, page 1 always exists. */
  function getPage(page: number): LeaderboardPage {
    if (!deps.cache) return compute(page);
    const version = repo.leaderboardVersion();
    const hit = cache.get(page);
    if (hit && hit.version === version) return hit;
    const fresh = { ...compute(page), version };
    cache.set(page, fresh);
    return fresh;
  }

  /** Where a user stands, or null when they are not ranked (no referrals, or disabled). */
  function standingOf(user: Pick<User, 'id' | 'status' | 'referralsCount' | 'lastReferralAt'>): Standing | null {
    if (user.status !== 'active' || user.referralsCount < 1) return null;
    const position = repo.positionOf(user);
    return { rank: repo.countAbove(user.referralsCount) + 1, position, page: Math.floor(position / PAGE_SIZE) + 1 };
  }

  return { getPage, standingOf, clear: () => cache.clear() };
}

export type Leaderboard = ReturnType<typeof createLeaderboard>;
