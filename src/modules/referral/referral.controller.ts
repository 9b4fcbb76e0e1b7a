import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { clientContext } from '../../http/device.js';
import { setFlash } from '../../http/flash.js';
import type { PageCache } from '../../http/page-cache.js';
import { clientKey, type RateLimits } from '../../http/rate-limit.js';
import { parseInput, parseOrThrow, type FieldErrors } from '../../http/validate.js';
import type { Clock } from '../../clock.js';
import { periodFrom, periodText, type Leaderboard, type LeaderboardPage, type Period } from './leaderboard.js';
import { periodOf } from './period-ranking.repository.js';
import { REF_COOKIE, REF_COOKIE_MAX_AGE_MS } from './referral.constants.js';
import { typedCode } from './referral-code.js';
import { attributionOf, channelCookie, REF_CHANNEL_COOKIE } from './channels.js';
import { LeaderboardQuerySchema, ProcessReferralSchema } from './referral.schemas.js';
import type { ReferralService } from './referral.service.js';

export interface ReferralControllerDeps {
  service: ReferralService;
  leaderboard: Leaderboard;
  limits: RateLimits;
  config: Config;
  pageCache: PageCache;
  clock: Clock;
  /** Re-renders the dashboard with the apply form's error (malformed form input). */
  renderDashboard: (req: Request, res: Response, status: number, errors: FieldErrors, values: Record<string, string>) => Promise<void>;
}

/**
 * "November 2026". One formatter for every request (building one costs more than the
 * page's queries), and each month formatted once: a page names up to three months, and
 * formatting shows in the profile of a month page at about a tenth of its database time.
 */
const MONTH_FORMAT = new Intl.DateTimeFormat('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });
const monthNames = new Map<number, string>();
function monthName(period: number): string {
  let name = monthNames.get(period);
  if (name === undefined) {
    name = MONTH_FORMAT.format(Date.UTC(Math.floor(period / 100), (period % 100) - 1, 1));
    // Bounded: months come from validated input (YYYY-MM), but a crawler can walk many.
    if (monthNames.size < 1200) monthNames.set(period, name);
  }
  return name;
}

/** The public shape of a page: exactly the SPEC's fields, in both the page and the API. */
function publicPage(p: LeaderboardPage) {
  return {
    page: p.page,
    pageSize: p.pageSize,
    totalPages: p.totalPages,
    totalRanked: p.totalRanked,
    generatedAt: p.generatedAt.toISOString(),
    entries: p.entries.map((e) => ({ rank: e.rank, name: e.name, referrals: e.referrals })),
  };
}

/** The period as the page's links spell it: nothing for all time. */
const periodParam = (period: Period) => (period === 'all' ? '' : `period=${periodText(period)}&`);

/** Page links carry a sealed cursor so the next page seeks by key instead of counting rows. */
const pageHref = (period: Period, page: number, cursor: string | null) =>
  `/referral/leaderboard?${periodParam(period)}page=${page}${cursor ? `&cursor=${cursor}` : ''}`;

/**
 * The URL a page is cached under. The current month is never cached as HTML (its name,
 * `month`, points at another ranking once the month ends, without any credit to change
 * the version); a past month is, and all time as before.
 */
function canonicalUrl(period: Period, page: number, current: number): string | null {
  if (period === current) return null;
  const base = period === 'all' ? '/referral/leaderboard' : `/referral/leaderboard?period=${periodText(period)}`;
  if (page === 1) return base;
  return period === 'all' ? `${base}?page=${page}` : `${base}&page=${page}`;
}

export function createReferralController(deps: ReferralControllerDeps) {
  const { service, leaderboard, limits, config } = deps;

  const getClick: RequestHandler = async (req, res) => {
    const key = clientKey(req.ip);
    await limits.clickIp.consume(key);
    const raw = typeof req.params.code === 'string' ? req.params.code : '';
    const attribution = attributionOf(req.query);
    const code = await service.recordClick(
      raw.length <= 40 ? typedCode(raw) : null,
      { key, userAgent: (req.get('user-agent') ?? '').slice(0, 512), viewerId: req.user?.id },
      attribution,
    );
    if (!code) {
      res.redirect(302, '/auth/signup');
      return;
    }
    // Last click wins: a newer link overwrites both cookies (the code, and its channel and tags).
    const options = { maxAge: REF_COOKIE_MAX_AGE_MS, httpOnly: true, sameSite: 'lax', secure: config.isProduction, path: '/' } as const;
    res.cookie(REF_COOKIE, code, options);
    res.cookie(REF_CHANNEL_COOKIE, channelCookie(code, attribution), options);
    res.redirect(302, `/auth/signup?ref=${code}`);
  };

  const postProcessReferral: RequestHandler = async (req, res) => {
    const json = Boolean(req.is('application/json'));
    const user = req.user!;
    await limits.applyUser.consume(String(user.id));
    const parsed = parseInput(ProcessReferralSchema, req.body);
    if (!parsed.ok) {
      const message = parsed.errors.referral_code ?? Object.values(parsed.errors)[0] ?? 'Enter a referral code.';
      if (json) {
        res.status(400).json({ error: message });
        return;
      }
      const typed = (req.body as Record<string, unknown> | undefined)?.referral_code;
      await deps.renderDashboard(req, res, 400, { referral_code: message }, { referral_code: typeof typed === 'string' ? typed.slice(0, 100) : '' });
      return;
    }
    try {
      const { referrerName, status } = await service.applyCode(user, parsed.data.referral_code, clientContext(req));
      if (json) {
        res.status(200).json({ ok: true, referrer: { name: referrerName } });
        return;
      }
      // The referred person learns only what they can act on: confirming their email.
      const message =
        status === 'credited'
          ? `Thanks! ${referrerName} has been credited for referring you.`
          : status === 'pending'
            ? `Thanks! ${referrerName} will be credited once you confirm your email address.`
            : `Thanks! We have noted that ${referrerName} referred you.`;
      setFlash(res, 'success', message);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      if (json) {
        res.status(err.status).json({ error: err.message });
        return;
      }
      setFlash(res, 'error', err.message);
    }
    res.redirect(303, '/dashboard');
  };

  const readQuery = (req: Request) => parseOrThrow(LeaderboardQuerySchema, req.query);

  /** Deep typed pages cost a walk through rows: a client gets only so many a minute. */
  const limitDeepPage = async (req: Request, page: number, cursor: string | undefined, period: Period) => {
    if (await leaderboard.isDeepTypedPage(page, cursor, period)) await limits.deepPageIp.consume(clientKey(req.ip));
  };

  const getLeaderboard: RequestHandler = async (req, res) => {
    const query = readQuery(req);
    const user = req.user;
    if (query.around === 'me') {
      if (!user) {
        res.redirect(302, `/auth/login?next=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      const around = await leaderboard.around(user);
      if (around) {
        res.render('referral/around.njk', { title: 'Your position', ...around });
        return;
      }
    }
    const now = deps.clock.now();
    const period = periodFrom(query.period, now);
    const current = periodOf(now);
    await limitDeepPage(req, query.page, query.cursor, period);
    const [rank, page] = await Promise.all([user && period === 'all' ? leaderboard.rankOf(user) : null, leaderboard.getPage(query.page, query.cursor, period)]);
    const myRow = user ? page.keys.findIndex((k) => k.id === user.id) : -1;
    const previous = periodOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)));
    deps.pageCache.render(req, res, canonicalUrl(period, page.page, current), page.version, 'referral/leaderboard.njk', {
      title: period === 'all' ? 'Leaderboard' : `Leaderboard for ${monthName(period)}`,
      board: publicPage(page),
      generatedAt: page.generatedAt,
      prevHref: page.page > 1 ? pageHref(period, page.page - 1, page.prevCursor) : null,
      nextHref: page.page < page.totalPages ? pageHref(period, page.page + 1, page.nextCursor) : null,
      tabs: [
        { href: '/referral/leaderboard', label: 'All time', current: period === 'all' },
        { href: '/referral/leaderboard?period=month', label: `This month (${monthName(current)})`, current: period === current },
        { href: `/referral/leaderboard?period=${periodText(previous)}`, label: `Last month (${monthName(previous)})`, current: period === previous },
      ],
      monthLabel: period === 'all' ? null : monthName(period),
      monthEnded: period !== 'all' && period < current,
      myRow,
      rank,
      notRankedNote: query.around === 'me' && rank === null,
    });
  };

  const getApiLeaderboard: RequestHandler = async (req, res) => {
    const query = readQuery(req);
    const period = periodFrom(query.period, deps.clock.now());
    await limitDeepPage(req, query.page, undefined, period);
    res.json(publicPage(await leaderboard.getPage(query.page, undefined, period)));
  };

  return { getClick, postProcessReferral, getLeaderboard, getApiLeaderboard };
}
