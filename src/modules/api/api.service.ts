import type { Config } from '../../config.js';
import type { Referral, User } from '../../db/schema.js';
import { badRequest, notFound } from '../../errors.js';
import type { AdminService } from '../admin/admin.service.js';
import type { AccountService } from '../account/account.service.js';
import type { AuthService } from '../auth/auth.service.js';
import { normalizeEmail } from '../users/users.schemas.js';
import type { ClientContext } from '../referral/fraud.js';
import { periodFrom, type Leaderboard } from '../referral/leaderboard.js';
import type { Clock } from '../../clock.js';
import type { ReferralRepository } from '../referral/referral.repository.js';
import { referralData } from '../referral/referral.resources.js';
import type { ReferralService } from '../referral/referral.service.js';
import type { UserRepository } from '../users/users.repository.js';
import { participantData } from '../users/users.resources.js';

export interface IntegrationDeps {
  config: Pick<Config, 'baseUrl'>;
  auth: AuthService;
  account: AccountService;
  referrals: ReferralService;
  admin: AdminService;
  leaderboard: Leaderboard;
  /** Reads only: every write goes through the services above. */
  users: UserRepository;
  referralRepo: ReferralRepository;
  clock: Clock;
}

export const NO_PARTICIPANT = 'No participant with this id.';

/**
 * What the integration API does, in the product's own services: the same sign-up rules,
 * lifecycle, fraud screen, webhooks and audit as the website. This layer finds the
 * participant, shapes resources, and pages lists.
 */
export function createIntegrationService(deps: IntegrationDeps) {
  const { config, auth, account, referrals, admin, leaderboard, users, referralRepo, clock } = deps;

  /** A participant by id; deleted accounts are gone for the API. */
  async function participant(id: number): Promise<User> {
    const user = await users.findById(id);
    if (!user || user.deletedAt) throw notFound(NO_PARTICIPANT);
    return user;
  }

  async function view(user: User) {
    return { ...participantData(user, config.baseUrl), rank: await leaderboard.rankOf(user) };
  }

  /** Cursors are the last id seen, opaque to the client (base64url). */
  const cursorOf = (id: number) => Buffer.from(`r${id}`).toString('base64url');
  function afterIdOf(cursor: string | undefined): number {
    if (cursor === undefined) return 0;
    const match = /^r([1-9]\d{0,9})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
    if (!match || Buffer.from(`r${match[1]}`).toString('base64url') !== cursor)
      throw badRequest('The cursor is not one this API gave out.', 'cursor', 'bad_cursor');
    return Number(match[1]);
  }

  return {
    participant,
    view,
    async byEmail(email: string): Promise<User> {
      const user = await users.findByEmail(normalizeEmail(email));
      if (!user || user.deletedAt) throw notFound('No participant with this email.');
      return user;
    },
    enrol: (input: { email: string; name: string; referral_code?: string | null | undefined }, client: ClientContext) => auth.enrol(input, client),
    async loginLink(id: number) {
      return auth.createLoginLink(await participant(id));
    },
    async verify(id: number) {
      return auth.markEmailVerified(await participant(id));
    },
    async convert(id: number) {
      const { convertedAt, referral } = await referrals.recordConversion(await participant(id));
      return { participant_id: id, converted_at: convertedAt.toISOString(), referral: referral ? referralData(referral) : null };
    },
    async remove(id: number): Promise<void> {
      await account.deleteAccount(await participant(id));
    },
    async listReferrals(query: { status?: Referral['status'] | undefined; referrer_id?: number | undefined; cursor?: string | undefined; limit: number }) {
      const rows = await referralRepo.list({ status: query.status, referrerId: query.referrer_id, afterId: afterIdOf(query.cursor), limit: query.limit + 1 });
      const page = rows.slice(0, query.limit);
      return { data: page.map(referralData), next_cursor: rows.length > query.limit ? cursorOf(page.at(-1)!.id) : null };
    },
    async review(apiKeyId: number, action: 'approve' | 'reject', id: number) {
      await admin.reviewOne({ id: null, apiKeyId }, action, id);
      return referralData((await referralRepo.byId(id))!);
    },
    /** The public ranking (all time or one month), 20 rows a page; `cursor` is the page number and its sealed seek key. */
    async leaderboardPage(cursor: string | undefined, period: string) {
      let page = 1;
      let seek: string | undefined;
      if (cursor !== undefined) {
        const match = /^([1-9]\d{0,6})\.([A-Za-z0-9_-]{1,300})$/.exec(cursor);
        if (!match) throw badRequest('The cursor is not one this API gave out.', 'cursor', 'bad_cursor');
        page = Number(match[1]);
        seek = match[2];
      }
      const board = await leaderboard.getPage(page, seek, periodFrom(period, clock.now()));
      return {
        data: board.entries.map((e) => ({ rank: e.rank, name: e.name, referrals: e.referrals })),
        total_ranked: board.totalRanked,
        generated_at: board.generatedAt.toISOString(),
        next_cursor: board.page < board.totalPages && board.nextCursor ? `${board.page + 1}.${board.nextCursor}` : null,
      };
    },
  };
}

export type IntegrationService = ReturnType<typeof createIntegrationService>;
