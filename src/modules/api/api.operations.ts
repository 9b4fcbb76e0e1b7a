import type { z } from 'zod';
import type { ApiKey, ApiScope } from '../../db/schema.js';
import type { ClientContext } from '../referral/fraud.js';
import {
  ConversionBody,
  ConversionResult,
  CreateParticipantBody,
  EmptyBody,
  IdParams,
  LeaderboardPage,
  LeaderboardQuery,
  LoginLink,
  Participant,
  ParticipantQuery,
  Referral,
  ReferralPage,
  ReferralsQuery,
} from './api.schemas.js';
import type { IntegrationService } from './api.service.js';

type Schema = z.ZodType<unknown, unknown>;

export interface Operation {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI style (`/participants/{id}`), below /api/v1. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  scope: ApiScope;
  params?: Schema;
  query?: Schema;
  body?: Schema;
  /** Success answers: status → description and schema (none for 204). */
  responses: Record<number, { description: string; schema?: Schema }>;
  /** Error answers this operation can give beyond the ones every route can. */
  errors: number[];
  handle(input: { params: never; query: never; body: never; apiKey: ApiKey }): Promise<{ status: number; body?: unknown }>;
}

/** Checks each handler against its own schemas; the table holds them loosely (method parameters are bivariant). */
function op<P extends Schema, Q extends Schema, B extends Schema>(
  o: Omit<Operation, 'handle' | 'params' | 'query' | 'body'> & {
    params?: P;
    query?: Q;
    body?: B;
    handle(input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; apiKey: ApiKey }): Promise<{ status: number; body?: unknown }>;
  },
): Operation {
  return o;
}

/**
 * The end user's device for the fraud screen, from what the host product saw. A user
 * agent alone is shared by millions of people, so it counts as a device only together
 * with the address it came from.
 */
function clientOf(body: { ip?: string | undefined; user_agent?: string | undefined }): ClientContext {
  return { ip: body.ip ?? null, deviceId: body.ip && body.user_agent ? `api|${body.ip}|${body.user_agent}` : null };
}

/**
 * Every route of /api/v1, once: the router (api.routes.ts) serves this table and the
 * OpenAPI document (api.openapi.ts) describes it, with the same schemas.
 */
export function integrationOperations(api: IntegrationService): Operation[] {
  return [
    op({
      method: 'post',
      path: '/participants',
      operationId: 'createParticipant',
      summary: 'Create a participant, or get the one with this email',
      description:
        'Creates a participant without a password (they reach their dashboard through login links) and, with a valid `referral_code`, their referral. The same email again answers 200 with the existing participant, unchanged.',
      scope: 'write',
      body: CreateParticipantBody,
      responses: { 201: { description: 'Created.', schema: Participant }, 200: { description: 'Already existed.', schema: Participant } },
      errors: [400],
      async handle({ body }) {
        const { user, created } = await api.enrol(body, clientOf(body));
        return { status: created ? 201 : 200, body: await api.view(user) };
      },
    }),
    op({
      method: 'get',
      path: '/participants',
      operationId: 'findParticipant',
      summary: 'Find a participant by email',
      scope: 'read',
      query: ParticipantQuery,
      responses: { 200: { description: 'The participant.', schema: Participant } },
      errors: [400, 404],
      async handle({ query }) {
        return { status: 200, body: await api.view(await api.byEmail(query.email)) };
      },
    }),
    op({
      method: 'get',
      path: '/participants/{id}',
      operationId: 'getParticipant',
      summary: 'Get a participant',
      scope: 'read',
      params: IdParams,
      responses: { 200: { description: 'The participant.', schema: Participant } },
      errors: [400, 404],
      async handle({ params }) {
        return { status: 200, body: await api.view(await api.participant(params.id)) };
      },
    }),
    op({
      method: 'delete',
      path: '/participants/{id}',
      operationId: 'deleteParticipant',
      summary: 'Delete a participant',
      description:
        'Pseudonymises the account: name "Deleted user", email cleared, no password, sessions ended, off the leaderboard. Referral rows stay as history, so no other count changes; the email can join again.',
      scope: 'write',
      params: IdParams,
      responses: { 204: { description: 'Deleted.' } },
      errors: [400, 404],
      async handle({ params }) {
        await api.remove(params.id);
        return { status: 204 };
      },
    }),
    op({
      method: 'post',
      path: '/participants/{id}/login-links',
      operationId: 'createLoginLink',
      summary: 'Make a single-use login link into the participant’s dashboard',
      description: 'Valid for 10 minutes and one use; a new link voids older ones.',
      scope: 'write',
      params: IdParams,
      body: EmptyBody,
      responses: { 201: { description: 'The link.', schema: LoginLink } },
      errors: [400, 404],
      async handle({ params }) {
        const link = await api.loginLink(params.id);
        return { status: 201, body: { url: link.url, expires_at: link.expiresAt.toISOString() } };
      },
    }),
    op({
      method: 'post',
      path: '/participants/{id}/verify',
      operationId: 'verifyParticipant',
      summary: 'Mark the participant’s email as confirmed',
      description: 'For products that confirmed the address themselves. Under `CREDIT_ON=verified` this screens their pending referral.',
      scope: 'write',
      params: IdParams,
      body: EmptyBody,
      responses: { 200: { description: 'The participant.', schema: Participant } },
      errors: [400, 404],
      async handle({ params }) {
        return { status: 200, body: await api.view(await api.verify(params.id)) };
      },
    }),
    op({
      method: 'post',
      path: '/conversions',
      operationId: 'reportConversion',
      summary: 'Report a referred participant’s qualifying action',
      description:
        'Under `CREDIT_ON=conversion` the first report screens and credits their pending referral. Reports are idempotent: later ones change nothing and answer the first time.',
      scope: 'write',
      body: ConversionBody,
      responses: { 200: { description: 'The conversion and the participant’s referral, if any.', schema: ConversionResult } },
      errors: [400, 404],
      async handle({ body }) {
        return { status: 200, body: await api.convert(body.participant_id) };
      },
    }),
    op({
      method: 'get',
      path: '/referrals',
      operationId: 'listReferrals',
      summary: 'List referrals in the order they were made',
      scope: 'read',
      query: ReferralsQuery,
      responses: { 200: { description: 'A page of referrals.', schema: ReferralPage } },
      errors: [400],
      async handle({ query }) {
        return { status: 200, body: await api.listReferrals(query) };
      },
    }),
    op({
      method: 'post',
      path: '/referrals/{id}/approve',
      operationId: 'approveReferral',
      summary: 'Approve a held referral (credits it)',
      scope: 'write',
      params: IdParams,
      body: EmptyBody,
      responses: { 200: { description: 'The referral.', schema: Referral } },
      errors: [400, 404, 409],
      async handle({ params, apiKey }) {
        return { status: 200, body: await api.review(apiKey.id, 'approve', params.id) };
      },
    }),
    op({
      method: 'post',
      path: '/referrals/{id}/reject',
      operationId: 'rejectReferral',
      summary: 'Reject a held referral',
      scope: 'write',
      params: IdParams,
      body: EmptyBody,
      responses: { 200: { description: 'The referral.', schema: Referral } },
      errors: [400, 404, 409],
      async handle({ params, apiKey }) {
        return { status: 200, body: await api.review(apiKey.id, 'reject', params.id) };
      },
    }),
    op({
      method: 'get',
      path: '/leaderboard',
      operationId: 'getLeaderboard',
      summary: 'The public leaderboard, all time or one month, 20 rows a page',
      scope: 'read',
      query: LeaderboardQuery,
      responses: { 200: { description: 'A page of the ranking.', schema: LeaderboardPage } },
      errors: [400, 404],
      async handle({ query }) {
        return { status: 200, body: await api.leaderboardPage(query.cursor, query.period) };
      },
    }),
  ];
}
