import type { Request, RequestHandler, Response } from 'express';
import { barChart, horizontalChart } from '../../http/charts.js';
import { AppError, notFound } from '../../errors.js';
import { setFlash } from '../../http/flash.js';
import { formValues, parseInput, parseOrThrow, type FieldErrors } from '../../http/validate.js';
import { FRIEND_REWARD_STATUSES, FriendRewardsQuerySchema, TierSchema, type FriendRewardsQuery } from '../rewards/rewards.schemas.js';
import { FRAUD_REASON_TEXT, parseReasons } from '../referral/fraud.js';
import {
  OverviewQuerySchema,
  IdParamSchema,
  LEADERBOARD_EXPORT_ROWS,
  LeaderboardExportSchema,
  PageQuerySchema,
  ProfileSchema,
  ReferralsQuerySchema,
  ReturnToSchema,
  ReviewSchema,
  UsersQuerySchema,
} from './admin.schemas.js';
import type { AdminService } from './admin.service.js';
import { csvRow, streamCsv } from './csv.js';

const PAGE_SIZE = 25;

function pages(total: number, page: number) {
  const totalPages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (page > totalPages) throw notFound(`There is no page ${page}.`);
  return { page, totalPages, total, offset: (page - 1) * PAGE_SIZE };
}

/** Who acted when no admin did: a program through an API key, the webhook deliverer, or the command line. */
function actorWithoutUser(action: string, details: string): string {
  let apiKeyId: unknown;
  try {
    apiKeyId = (JSON.parse(details) as { apiKeyId?: unknown }).apiKeyId;
  } catch {
    apiKeyId = undefined;
  }
  if (typeof apiKeyId === 'number') return `API key ${apiKeyId}`;
  if (action.startsWith('webhook.auto_')) return 'webhook deliverer';
  return 'command line';
}

/** A malformed or unknown id is simply "not found". */
function idOf(req: Request): number {
  const parsed = parseInput(IdParamSchema, req.params);
  if (!parsed.ok) throw notFound();
  return parsed.data.id;
}

function back(req: Request, res: Response, fallback: string) {
  const { return_to } = parseOrThrow(ReturnToSchema, req.body);
  res.redirect(303, return_to ?? fallback);
}

export function createAdminController(deps: { service: AdminService }) {
  const { service } = deps;

  const getIndex: RequestHandler = async (req, res) => {
    const { funnel: window } = parseOrThrow(OverviewQuerySchema, req.query);
    const data = await service.analytics(window);
    const chart = barChart(data.days, [
      { name: 'sign-ups', className: 'bar-a', values: data.signups },
      { name: 'referrals', className: 'bar-b', values: data.referrals },
    ]);
    const rows = data.growth.funnel;
    const growth = {
      ...data.growth,
      windowLabel: window === 'all' ? 'all time' : 'last 30 days',
      chart: horizontalChart(
        rows.map((r) => r.label),
        [
          { name: 'clicks', className: 'bar-a', values: rows.map((r) => r.clicks) },
          { name: 'sign-ups', className: 'bar-b', values: rows.map((r) => r.signups) },
          { name: 'confirmed', className: 'bar-c', values: rows.map((r) => r.confirmed) },
          { name: 'credited', className: 'bar-d', values: rows.map((r) => r.credited) },
        ],
      ),
    };
    res.render('admin/index.njk', { title: 'Admin', section: 'overview', ...data, chart, growth });
  };

  const getUsers: RequestHandler = async (req, res) => {
    const query = parseOrThrow(UsersQuerySchema, req.query);
    const first = await service.searchUsers(query.q, (query.page - 1) * PAGE_SIZE, PAGE_SIZE);
    const pager = pages(first.total, query.page);
    res.render('admin/users.njk', { title: 'Users', section: 'users', q: query.q, rows: first.rows, pager });
  };

  const renderUser = async (req: Request, res: Response, status = 200, errors: FieldErrors = {}, values?: Record<string, string>) => {
    const page = await service.userPage(idOf(req));
    res.status(status).render('admin/user.njk', {
      title: page.user.name,
      section: 'users',
      ...page,
      errors,
      values: values ?? { name: page.user.name, email: page.user.email },
      isSelf: page.user.id === req.user?.id,
    });
  };

  const getUser: RequestHandler = (req, res) => renderUser(req, res);

  const postProfile: RequestHandler = async (req, res) => {
    const id = idOf(req);
    const values = formValues(req.body, ['name', 'email']);
    const parsed = parseInput(ProfileSchema, req.body);
    if (!parsed.ok) return renderUser(req, res, 400, parsed.errors, values);
    try {
      await service.editProfile(req.user!, id, parsed.data);
    } catch (err) {
      if (err instanceof AppError && err.status === 400 && err.field) return renderUser(req, res, 400, { [err.field]: err.message }, values);
      throw err;
    }
    setFlash(res, 'success', `Saved: ${parsed.data.name}, ${parsed.data.email}.`);
    res.redirect(303, `/admin/users/${id}`);
  };

  const statusAction =
    (status: 'active' | 'disabled'): RequestHandler =>
    async (req, res) => {
      const target = await service.setStatus(req.user!, idOf(req), status);
      setFlash(res, 'success', status === 'disabled' ? `${target.name} is disabled and logged out everywhere.` : `${target.name} is active again.`);
      back(req, res, `/admin/users/${target.id}`);
    };

  const getReferrals: RequestHandler = async (req, res) => {
    const query = parseOrThrow(ReferralsQuerySchema, req.query);
    const filter = { status: query.status, source: query.source, q: query.q };
    const result = await service.listReferrals(filter, (query.page - 1) * PAGE_SIZE, PAGE_SIZE);
    const pager = pages(result.total, query.page);
    const params = new URLSearchParams(Object.entries({ q: query.q, status: query.status ?? '', source: query.source ?? '' }).filter(([, v]) => v));
    res.render('admin/referrals.njk', { title: 'Referrals', section: 'referrals', filter: query, rows: result.rows, pager, filterQuery: params.toString() });
  };

  const postRevoke: RequestHandler = async (req, res) => {
    const referral = await service.revokeReferral(req.user!, idOf(req));
    setFlash(res, 'success', 'Referral revoked: the referrer’s count went down by one.');
    back(req, res, `/admin/users/${referral.referrerId}`);
  };

  const renderReview = async (req: Request, res: Response, status = 200, error?: string) => {
    const query = parseOrThrow(PageQuerySchema, req.query);
    const result = await service.heldReferrals((query.page - 1) * PAGE_SIZE, PAGE_SIZE);
    const rows = result.rows.map((r) => ({
      ...r,
      reasons: parseReasons(r.fraudReasons).map((code) => ({ code, text: FRAUD_REASON_TEXT[code] })),
      network: r.networkHash?.slice(0, 8) ?? null,
      device: r.deviceHash?.slice(0, 8) ?? null,
    }));
    res.status(status).render('admin/review.njk', { title: 'Review', section: 'review', rows, pager: pages(result.total, query.page), error });
  };

  const getReview: RequestHandler = (req, res) => renderReview(req, res);

  const reviewed = (action: 'approve' | 'reject', n: number) =>
    `${n} referral${n === 1 ? '' : 's'} ${action === 'approve' ? 'approved and credited' : 'rejected'}.`;

  /** Bulk approve or reject; referrals decided meanwhile are reported, not re-decided. */
  const postReview: RequestHandler = async (req, res) => {
    const parsed = parseInput(ReviewSchema, req.body);
    if (!parsed.ok) return renderReview(req, res, 400, Object.values(parsed.errors)[0]);
    const { done, skipped } = await service.review(req.user!, parsed.data.action, parsed.data.ids);
    const note = skipped.length ? ` ${skipped.length} skipped (already decided or not found).` : '';
    setFlash(res, skipped.length && !done.length ? 'error' : 'success', `${reviewed(parsed.data.action, done.length)}${note}`);
    res.redirect(303, '/admin/review');
  };

  const reviewAction =
    (action: 'approve' | 'reject'): RequestHandler =>
    async (req, res) => {
      await service.reviewOne(req.user!, action, idOf(req));
      setFlash(res, 'success', reviewed(action, 1));
      back(req, res, '/admin/review');
    };

  const postFulfill: RequestHandler = async (req, res) => {
    const done = await service.fulfill(req.user!, 'tier', idOf(req));
    setFlash(res, 'success', 'Reward marked as fulfilled.');
    back(req, res, `/admin/users/${done.userId}`);
  };

  const postFulfillFriend: RequestHandler = async (req, res) => {
    const done = await service.fulfill(req.user!, 'friend', idOf(req));
    setFlash(res, 'success', 'Friend reward marked as fulfilled.');
    back(req, res, `/admin/users/${done.userId}`);
  };

  /** The friend-reward list's links: this status and page, the first page of each status, the next page. */
  const friendLink = (status: string, before?: { awardedAt: Date; id: number }) =>
    `/admin/rewards?friend_status=${status}${before ? `&before=${before.awardedAt.getTime()}.${before.id}` : ''}`;

  const renderRewards = async (
    res: Response,
    status = 200,
    form: { values?: Record<string, string>; errors?: Record<string, string>; editing?: number } = {},
    friendsQuery: FriendRewardsQuery = { friend_status: 'awarded' },
  ) => {
    const friends = await service.friendRewardsPage(friendsQuery.friend_status, friendsQuery.before, PAGE_SIZE);
    res.status(status).render('admin/rewards.njk', {
      title: 'Rewards',
      section: 'rewards',
      tiers: await service.listTiers(),
      values: form.values ?? { active: 'on' },
      errors: form.errors ?? {},
      editing: form.editing,
      friends: {
        status: friendsQuery.friend_status,
        rows: friends.rows,
        tabs: FRIEND_REWARD_STATUSES.map((s) => ({ status: s, href: friendLink(s) })),
        here: friendLink(friendsQuery.friend_status, friendsQuery.before),
        first: friendsQuery.before ? friendLink(friendsQuery.friend_status) : null,
        next: friends.next ? friendLink(friendsQuery.friend_status, friends.next) : null,
      },
    });
  };

  const getRewards: RequestHandler = (req, res) => renderRewards(res, 200, {}, parseOrThrow(FriendRewardsQuerySchema, req.query));

  /** Create (no id) or update (id): bad input re-renders with 400 and field errors. */
  const saveTier =
    (mode: 'create' | 'update'): RequestHandler =>
    async (req, res) => {
      const id = mode === 'update' ? idOf(req) : undefined;
      if (id !== undefined && !(await service.tierById(id))) throw notFound('No such reward tier.');
      const values = formValues(req.body, ['name', 'description', 'threshold', 'active']);
      const parsed = parseInput(TierSchema, req.body);
      if (!parsed.ok) return renderRewards(res, 400, { values, errors: parsed.errors, editing: id });
      try {
        if (id === undefined) await service.createTier(req.user!, parsed.data);
        else await service.updateTier(req.user!, id, parsed.data);
      } catch (err) {
        if (err instanceof AppError && err.status === 409)
          return renderRewards(res, 409, { values, errors: { [err.field ?? 'form']: err.message }, editing: id });
        throw err;
      }
      setFlash(res, 'success', id === undefined ? `Tier “${parsed.data.name}” created.` : `Tier “${parsed.data.name}” saved.`);
      res.redirect(303, '/admin/rewards');
    };

  const getAudit: RequestHandler = async (req, res) => {
    const query = parseOrThrow(PageQuerySchema, req.query);
    const result = await service.auditPage((query.page - 1) * PAGE_SIZE, PAGE_SIZE);
    const rows = result.rows.map((r) => ({ ...r, via: r.actorId ? null : actorWithoutUser(r.action, r.details) }));
    res.render('admin/audit.njk', { title: 'Audit log', section: 'audit', rows, pager: pages(result.total, query.page) });
  };

  /** A ranking for prize fulfilment: `?period=` as on the leaderboard (all, month, YYYY-MM), the first 1,000 rows. */
  const exportLeaderboard: RequestHandler = async (req, res) => {
    const { period } = parseOrThrow(LeaderboardExportSchema, req.query);
    const rows = await service.leaderboardRows(period, LEADERBOARD_EXPORT_ROWS);
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="leaderboard-${period}.csv"`);
    res.send(csvRow(['rank', 'name', 'email', 'referrals', 'user_id']) + rows.map((r) => csvRow([r.rank, r.name, r.email, r.referrals, r.id])).join(''));
  };

  const exportUsers: RequestHandler = (_req, res) =>
    streamCsv(
      res,
      'users.csv',
      ['id', 'name', 'email', 'referral_code', 'referrals_count', 'referred_by_id', 'role', 'status', 'created_at'],
      service.usersAfter,
      (u) => [u.id, u.name, u.email, u.referralCode, u.referralsCount, u.referredById, u.role, u.status, u.createdAt],
    );

  const exportReferrals: RequestHandler = (_req, res) =>
    streamCsv(
      res,
      'referrals.csv',
      ['id', 'referrer_id', 'referred_user_id', 'referred_email', 'source', 'status', 'fraud_reasons', 'created_at', 'credited_at', 'revoked_at'],
      service.referralsAfter,
      (r) => [r.id, r.referrerId, r.referredUserId, r.referredEmail, r.source, r.status, r.fraudReasons, r.createdAt, r.creditedAt, r.revokedAt],
    );

  return {
    getIndex,
    getUsers,
    getUser,
    postProfile,
    postDisable: statusAction('disabled'),
    postEnable: statusAction('active'),
    getReferrals,
    postRevoke,
    getReview,
    postReview,
    postApprove: reviewAction('approve'),
    postReject: reviewAction('reject'),
    postFulfill,
    postFulfillFriend,
    getRewards,
    postCreateTier: saveTier('create'),
    postUpdateTier: saveTier('update'),
    getAudit,
    exportUsers,
    exportReferrals,
    exportLeaderboard,
  };
}
