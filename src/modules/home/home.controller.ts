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

  const getHealth: RequestHandler = async (_req, res) => {
    try {
      await deps.database.ping();
      res.status(200).json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  };
  return { getHome, getHealth };
}
