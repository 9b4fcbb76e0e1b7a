import type { RequestHandler } from 'express';
import type { Database } from '../../db/database.js';
import type { PageCache } from '../../http/page-cache.js';
import type { Leaderboard } from '../referral/leaderboard.js';

export function createHomeController(deps: { database: Database; leaderboard: Leaderboard; pageCache: PageCache }) {
  const getHome: RequestHandler = async (req, res) => {
    const top = await deps.leaderboard.getPage(1);
    deps.pageCache.render(req, res, '/', top.version, 'home/index.njk', {
      title: 'Invite friends, climb the leaderboard',
      top: top.entries.slice(0, 5),
      totalRanked: top.totalRanked,
    });
  };

  // One probe (a committed one-row write) serves every health check of the same second:
  // a load balancer polling, or a flood of /healthz, costs at most one write a second.
  let probe: { at: number; result: Promise<void> } | null = null;
  const getHealth: RequestHandler = async (_req, res) => {
    const now = Date.now();
    if (!probe || now - probe.at >= 1_000) probe = { at: now, result: deps.database.ping() };
    try {
      await probe.result;
      res.status(200).json({ status: 'ok' });
    } catch {
      res.status(503).set('Retry-After', '5').json({ status: 'unavailable', reason: 'the database cannot take writes' });
    }
  };
  return { getHome, getHealth };
}
