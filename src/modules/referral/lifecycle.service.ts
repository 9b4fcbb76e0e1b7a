import { attributionBySource, type Attribution } from './channels.js';
import type { Config } from '../../config.js';
import type { Tx } from '../../db/client.js';
import type { Referral, User } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import type { Notifications } from '../mail/notifications.js';
import type { RewardsService } from '../rewards/rewards.service.js';
import type { WebhookEvents } from '../../events.js';
import { canonicalEmail, isDisposableEmail, type FraudReason, type SignalHasher } from './fraud.js';
import {
  creditInTx,
  holdInTx,
  insertReferralInTx,
  pendingReferralOfInTx,
  ReferrerInactiveError,
  rejectInTx,
  revokeInTx,
  screenFactsInTx,
} from './lifecycle.repository.js';
import { referralData } from './referral.resources.js';

const VELOCITY_WINDOW_MS = 60 * 60 * 1000;

export interface LifecycleDeps {
  config: Pick<Config, 'creditOn' | 'fraudScreen' | 'fraudVelocity'>;
  hash: SignalHasher;
  rewards: RewardsService;
  notifications: Notifications;
  events: WebhookEvents;
}

/**
 * A referral's life: born `pending`, screened when it would be credited, then `credited`
 * or `held` for an admin, who approves or rejects it; a credited one can be revoked. Every
 * function runs inside the caller's transaction, so the transition commits together with
 * whatever caused it (a sign-up, a confirmation, an admin's click) and its audit row.
 */
export function createReferralLifecycle(deps: LifecycleDeps) {
  const { config, hash, rewards, notifications, events } = deps;

  /** The referral's webhook, in the transaction of the change it reports. */
  async function emitInTx(tx: Tx, type: `referral.${'created' | 'credited' | 'held' | 'rejected' | 'revoked'}`, referral: Referral, now: Date) {
    await events.emitInTx(tx, type, referralData(referral), now);
  }

  /** The signals that hold a referral back; empty means it is earned. Runs inside the credit's transaction. */
  async function screenInTx(tx: Tx, referral: Referral): Promise<FraudReason[]> {
    // Counted by creation time, so the answer does not depend on when the friend confirms.
    const since = new Date(referral.createdAt.getTime() - VELOCITY_WINDOW_MS);
    const facts = await screenFactsInTx(tx, referral, since);
    const reasons: FraudReason[] = [];
    if (!facts || facts.referrerStatus !== 'active') reasons.push('referrer_disabled');
    if (!config.fraudScreen || !facts) return reasons;

    const alias = referral.emailAliasHash;
    if (alias && (alias === hash('email', canonicalEmail(facts.referrerEmail)) || facts.aliasTaken)) reasons.push('email_alias');
    if (isDisposableEmail(referral.referredEmail)) reasons.push('disposable_email');
    if (referral.networkHash && facts.sameNetwork) reasons.push('same_network');
    if (referral.deviceHash && facts.sameDevice) reasons.push('same_device');
    if (referral.networkHash && facts.earlierFromNetwork >= config.fraudVelocity) reasons.push('velocity');
    return reasons;
  }

  /** Credits exactly once (count, rank, rewards of both sides, the referrer's email) or returns null. */
  async function creditOnceInTx(tx: Tx, id: number, from: readonly Referral['status'][], now: Date): Promise<Referral | null> {
    const credited = await creditInTx(tx, id, from, now);
    if (!credited) return null;
    await emitInTx(tx, 'referral.credited', credited, now);
    await notifications.referralJoined(tx, credited);
    await rewards.onCreditedInTx(tx, credited, now);
    return credited;
  }

  /** Screens a pending referral and settles it: credited when clean, held otherwise. */
  async function settleInTx(tx: Tx, referral: Referral, now: Date): Promise<Referral> {
    const reasons = await screenInTx(tx, referral);
    if (reasons.length > 0) {
      const held = await holdInTx(tx, referral.id, reasons, now);
      if (!held) return referral;
      await emitInTx(tx, 'referral.held', held, now);
      return held;
    }
    return (await creditOnceInTx(tx, referral.id, ['pending'], now)) ?? referral;
  }

  /** When a referral is screened: at once, when the friend confirms their email, or when the host reports their conversion. */
  const screensAtOnce = (referred: Pick<User, 'emailVerifiedAt' | 'convertedAt'>) =>
    config.creditOn === 'signup' ||
    (config.creditOn === 'verified' && referred.emailVerifiedAt !== null) ||
    (config.creditOn === 'conversion' && referred.convertedAt !== null);

  return {
    /**
     * Records a new referral (sign-up with a code, a code applied later) and, when
     * CREDIT_ON says this is the moment, screens and settles it in the same transaction.
     */
    async openInTx(
      tx: Tx,
      input: {
        referrerId: number;
        referred: Pick<User, 'id' | 'email' | 'emailVerifiedAt' | 'convertedAt'>;
        source: Referral['source'];
        client: { networkHash: string | null; deviceHash: string | null };
        now: Date;
        /** The link's channel and tags; without one, the source names the channel. */
        attribution?: Attribution;
      },
    ): Promise<Referral> {
      const referral = await insertReferralInTx(tx, {
        ...(input.attribution ?? attributionBySource(input.source)),
        referrerId: input.referrerId,
        referredUserId: input.referred.id,
        referredEmail: input.referred.email,
        source: input.source,
        networkHash: input.client.networkHash,
        deviceHash: input.client.deviceHash,
        emailAliasHash: hash('email', canonicalEmail(input.referred.email)),
        createdAt: input.now,
      });
      await emitInTx(tx, 'referral.created', referral, input.now);
      return screensAtOnce(input.referred) ? settleInTx(tx, referral, input.now) : referral;
    },

    /** The referred person confirmed their email: under CREDIT_ON=verified their pending referral is screened now. */
    async onEmailVerifiedInTx(tx: Tx, userId: number, now: Date): Promise<Referral | null> {
      if (config.creditOn !== 'verified') return null;
      const pending = await pendingReferralOfInTx(tx, userId);
      return pending ? settleInTx(tx, pending, now) : null;
    },

    /**
     * The host product reported the referred person's qualifying action (a purchase, an
     * activation): under CREDIT_ON=conversion their pending referral is screened now. The
     * host vouches for the person, so a confirmed email is not asked for as well.
     */
    async onConvertedInTx(tx: Tx, userId: number, now: Date): Promise<Referral | null> {
      if (config.creditOn !== 'conversion') return null;
      const pending = await pendingReferralOfInTx(tx, userId);
      return pending ? settleInTx(tx, pending, now) : null;
    },

    /** An admin approves a held referral: credited exactly once, or 409. */
    async approveInTx(tx: Tx, id: number, now: Date): Promise<Referral> {
      try {
        const credited = await creditOnceInTx(tx, id, ['held'], now);
        if (!credited) throw new AppError(409, 'This referral is not waiting for review.', { code: 'not_held' });
        return credited;
      } catch (err) {
        if (err instanceof ReferrerInactiveError) {
          throw new AppError(409, 'The referrer’s account is disabled. Enable it before approving.', { code: 'referrer_inactive' });
        }
        throw err;
      }
    },

    /** An admin rejects a held referral: no count changes. */
    async rejectInTx(tx: Tx, id: number, now: Date): Promise<Referral> {
      const rejected = await rejectInTx(tx, id, now);
      if (!rejected) throw new AppError(409, 'This referral is not waiting for review.', { code: 'not_held' });
      await emitInTx(tx, 'referral.rejected', rejected, now);
      return rejected;
    },

    /** Takes back a credited referral, with any reward it no longer supports: the referrer's tiers above the new count, the friend's award. */
    async revokeInTx(tx: Tx, id: number, now: Date): Promise<{ referral: Referral; rewardsWithdrawn: number; friendRewardWithdrawn: boolean }> {
      const referral = await revokeInTx(tx, id, now);
      if (!referral) throw new AppError(409, 'Only a credited referral can be revoked.', { code: 'not_credited' });
      await emitInTx(tx, 'referral.revoked', referral, now);
      const withdrawn = await rewards.onRevokedInTx(tx, referral);
      return { referral, rewardsWithdrawn: withdrawn.tiers, friendRewardWithdrawn: withdrawn.friend };
    },

    /** The screen alone, for the benchmark: what it adds to a credit. */
    screen: screenInTx,
  };
}

export type ReferralLifecycle = ReturnType<typeof createReferralLifecycle>;
