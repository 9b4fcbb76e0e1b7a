import { and, asc, count, desc, eq, gt, inArray, like, or, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import { dayOf } from '../../db/sql.js';
import type { Db } from '../../db/client.js';
import { auditLog, referralClicks, referrals, sessions, users, type Referral, type User } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';

/** `%` and `_` typed into a search box are literal characters, not wildcards. */
const likeEscaped = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
// lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
const likeOp = (column: Parameters<typeof like>[0], q: string): SQL => sql`lower(${column}) like ${likeEscaped(q.toLowerCase())} escape '\\'`;

export function createAdminRepository(db: Db) {
  return {
    async totals() {
      const one = async (q: PromiseLike<{ n: number }[]>) => (await q)[0]?.n ?? 0;
      return {
        users: await one(db.select({ n: count() }).from(users)),
        activeUsers: await one(db.select({ n: count() }).from(users).where(eq(users.status, 'active'))),
        credited: await one(db.select({ n: count() }).from(referrals).where(eq(referrals.status, 'credited'))),
        revoked: await one(db.select({ n: count() }).from(referrals).where(eq(referrals.status, 'revoked'))),
        held: await one(db.select({ n: count() }).from(referrals).where(eq(referrals.status, 'held'))),
        pending: await one(db.select({ n: count() }).from(referrals).where(eq(referrals.status, 'pending'))),
        clicks: await one(db.select({ n: count() }).from(referralClicks)),
      };
    },

    /** Sign-ups and credited referrals per UTC day since a date (days with none are absent). */
    async daily(since: Date) {
      const signups = await db
        .select({ day: dayOf(users.createdAt).as('day'), n: count() })
        .from(users)
        .where(sql`${users.createdAt} >= ${since.getTime()}`)
        .groupBy(sql`day`);
      const credited = await db
        .select({ day: dayOf(referrals.creditedAt).as('day'), n: count() })
        .from(referrals)
        .where(and(sql`${referrals.creditedAt} >= ${since.getTime()}`, eq(referrals.status, 'credited')))
        .groupBy(sql`day`);
      return { signups, credited };
    },

    async topReferrers(limit: number) {
      return db
        .select({ id: users.id, name: users.name, email: users.email, referrals: users.referralsCount })
        .from(users)
        .where(sql`${users.status} = 'active' and ${users.referralsCount} > 0`)
        .orderBy(desc(users.referralsCount), asc(users.lastReferralAt), asc(users.id))
        .limit(limit);
    },

    searchUsers: async (q: string, offset: number, limit: number) => {
      const where = q ? or(likeOp(users.name, q), likeOp(users.emailNormalized, q.toLowerCase()), eq(users.referralCode, q.toUpperCase())) : undefined;
      const rows = await db
        .select({
          id: users.id,
          name: users.name,
          email: users.email,
          referrals: users.referralsCount,
          status: users.status,
          role: users.role,
          createdAt: users.createdAt,
        })
        .from(users)
        .where(where)
        .orderBy(desc(users.id))
        .limit(limit)
        .offset(offset);
      const total = (await db.select({ n: count() }).from(users).where(where))[0]?.n ?? 0;
      return { rows, total };
    },

    usersByIds: async (ids: number[]): Promise<User[]> => (ids.length === 0 ? [] : db.select().from(users).where(inArray(users.id, ids))),
    userById: async (id: number): Promise<User | undefined> => (await db.select().from(users).where(eq(users.id, id)).limit(1))[0],

    /** Everything an admin reviews about one person, including what fraud review needs. */
    async userDetail(id: number) {
      const referred = alias(users, 'referred');
      const people = await db
        .select({
          referralId: referrals.id,
          userId: referred.id,
          name: referred.name,
          email: referred.email,
          status: referrals.status,
          source: referrals.source,
          createdAt: referrals.createdAt,
        })
        .from(referrals)
        .innerJoin(referred, eq(referred.id, referrals.referredUserId))
        .where(eq(referrals.referrerId, id))
        .orderBy(desc(referrals.createdAt))
        .limit(500);
      const [clicks = { total: 0, devices: 0, addresses: 0 }] = await db
        .select({
          total: count(),
          devices: sql<number>`count(distinct ${referralClicks.ipHash} || ${referralClicks.userAgentHash})`,
          addresses: sql<number>`count(distinct ${referralClicks.ipHash})`,
        })
        .from(referralClicks)
        .where(eq(referralClicks.referrerId, id));
      const topAddresses = await db
        .select({ ipHash: referralClicks.ipHash, n: count() })
        .from(referralClicks)
        .where(eq(referralClicks.referrerId, id))
        .groupBy(referralClicks.ipHash)
        .orderBy(desc(count()))
        .limit(5);
      return { people, clicks, topAddresses };
    },

    /** Sets the status; disabling also deletes every session of the user, in the same transaction. */
    /** A correction by an admin: a changed address is unconfirmed until its owner confirms it. */
    async setProfileInTx(tx: Tx, user: User, profile: { name: string; email: string }): Promise<void> {
      const emailNormalized = profile.email.toLowerCase();
      const emailChanged = emailNormalized !== user.emailNormalized;
      await tx
        .update(users)
        .set({ name: profile.name, email: profile.email, emailNormalized, ...(emailChanged ? { emailVerifiedAt: null } : {}) })
        .where(eq(users.id, user.id));
    },

    async setStatusInTx(tx: Tx, id: number, status: User['status']): Promise<boolean> {
      const changed = (
        await tx
          .update(users)
          .set({ status })
          .where(and(eq(users.id, id), sql`${users.status} <> ${status}`))
          .returning({ id: users.id })
      ).length;
      if (changed && status === 'disabled') await tx.delete(sessions).where(eq(sessions.userId, id));
      return changed === 1;
    },

    listReferrals: async (filter: { status?: Referral['status']; source?: Referral['source']; q?: string }, offset: number, limit: number) => {
      const referrer = alias(users, 'referrer');
      const referred = alias(users, 'referred');
      const conditions = [
        filter.status ? eq(referrals.status, filter.status) : undefined,
        filter.source ? eq(referrals.source, filter.source) : undefined,
        filter.q ? or(likeOp(referrer.name, filter.q), likeOp(referred.name, filter.q), likeOp(referrals.referredEmail, filter.q.toLowerCase())) : undefined,
      ].filter((c): c is SQL => c !== undefined);
      const where = conditions.length ? and(...conditions) : undefined;
      const base = db
        .select({
          id: referrals.id,
          status: referrals.status,
          source: referrals.source,
          createdAt: referrals.createdAt,
          referrerId: referrer.id,
          referrerName: referrer.name,
          referredId: referred.id,
          referredName: referred.name,
          referredEmail: referrals.referredEmail,
        })
        .from(referrals)
        .innerJoin(referrer, eq(referrer.id, referrals.referrerId))
        .innerJoin(referred, eq(referred.id, referrals.referredUserId));
      const rows = await base.where(where).orderBy(desc(referrals.id)).limit(limit).offset(offset);
      const total =
        (
          await db
            .select({ n: count() })
            .from(referrals)
            .innerJoin(referrer, eq(referrer.id, referrals.referrerId))
            .innerJoin(referred, eq(referred.id, referrals.referredUserId))
            .where(where)
        )[0]?.n ?? 0;
      return { rows, total };
    },

    /**
     * The review queue: held referrals, oldest first, with what an admin weighs. Networks
     * and devices are shown as the first characters of their keyed hashes: enough to see
     * that two rows share one, nothing that identifies anybody.
     */
    heldReferrals: async (offset: number, limit: number) => {
      const referrer = alias(users, 'referrer');
      const referred = alias(users, 'referred');
      const rows = await db
        .select({
          id: referrals.id,
          source: referrals.source,
          createdAt: referrals.createdAt,
          screenedAt: referrals.screenedAt,
          fraudReasons: referrals.fraudReasons,
          networkHash: referrals.networkHash,
          deviceHash: referrals.deviceHash,
          referrerId: referrer.id,
          referrerName: referrer.name,
          referrerEmail: referrer.email,
          referredId: referred.id,
          referredName: referred.name,
          referredEmail: referrals.referredEmail,
        })
        .from(referrals)
        .innerJoin(referrer, eq(referrer.id, referrals.referrerId))
        .innerJoin(referred, eq(referred.id, referrals.referredUserId))
        .where(eq(referrals.status, 'held'))
        .orderBy(asc(referrals.createdAt), asc(referrals.id))
        .limit(limit)
        .offset(offset);
      const total = (await db.select({ n: count() }).from(referrals).where(eq(referrals.status, 'held')))[0]?.n ?? 0;
      return { rows, total };
    },

    referralById: async (id: number): Promise<Referral | undefined> => (await db.select().from(referrals).where(eq(referrals.id, id)).limit(1))[0],

    auditPage: async (offset: number, limit: number) => {
      const actor = alias(users, 'actor');
      const rows = await db
        .select({
          id: auditLog.id,
          action: auditLog.action,
          targetType: auditLog.targetType,
          targetId: auditLog.targetId,
          details: auditLog.details,
          createdAt: auditLog.createdAt,
          actorId: auditLog.actorId,
          actorName: actor.name,
          actorEmail: actor.email,
        })
        .from(auditLog)
        .leftJoin(actor, eq(actor.id, auditLog.actorId))
        .orderBy(desc(auditLog.id))
        .limit(limit)
        .offset(offset);
      const total = (await db.select({ n: count() }).from(auditLog))[0]?.n ?? 0;
      return { rows, total };
    },

    /** Keyset-paged chunks for CSV export: constant memory, no connection held between chunks. */
    usersAfter: async (afterId: number, limit: number) => {
      return db
        .select({
          id: users.id,
          name: users.name,
          email: users.email,
          referralCode: users.referralCode,
          referralsCount: users.referralsCount,
          referredById: users.referredById,
          role: users.role,
          status: users.status,
          createdAt: users.createdAt,
        })
        .from(users)
        .where(gt(users.id, afterId))
        .orderBy(asc(users.id))
        .limit(limit);
    },

    referralsAfter: async (afterId: number, limit: number) => {
      return db
        .select({
          id: referrals.id,
          referrerId: referrals.referrerId,
          referredUserId: referrals.referredUserId,
          referredEmail: referrals.referredEmail,
          source: referrals.source,
          status: referrals.status,
          fraudReasons: referrals.fraudReasons,
          createdAt: referrals.createdAt,
          creditedAt: referrals.creditedAt,
          revokedAt: referrals.revokedAt,
        })
        .from(referrals)
        .where(gt(referrals.id, afterId))
        .orderBy(asc(referrals.id))
        .limit(limit);
    },
  };
}

export type AdminRepository = ReturnType<typeof createAdminRepository>;
