import type { RequestHandler } from 'express';
import type { Db } from '../../db/client.js';

export function createHomeController(deps: { db: Db }) {
  const ping = deps.db.$client.prepare('select 1 as ok');

  const getHome: RequestHandler = (_req, res) => {
    res.render('home/index.njk', { title: 'Invite friends, climb the leaderboard' });
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
