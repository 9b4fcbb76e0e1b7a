import type { RequestHandler } from 'express';
import type { Db } from '../../db/client.js';
import type { PageCache } from '../../http/page-cache.js';
import type { Leaderboard } from '../referral/leaderboard.js';

export function createHomeController(deps: { db: Db; leaderboard: Leaderboard; pageCache: PageCache }) {
  const ping = deps.db.$client.prepare('select 1 as ok');

  const getHome: RequestHandler = (req, res) => {
    const top = deps.leaderboard.getPage(1);
    deps.pageCache.render(req, res, '/', top.version, 'home/index.njk', {
      title: 'Invite friends, climb the leaderboard',
      top: top.entries.slice(0, 5),
      totalRanked: top.totalRanked,
    });
  };

  const getHealth: RequestHandler = (_req, res) => {
    try {
      ping.get();
      res.status(200).json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  };
  return { getHome, getHealth };
}
