import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { addressPrefix } from '../../http/client-address.js';

/**
 * The fraud screen's pure parts: what each signal means, how an email, an address and a
 * device are reduced to something comparable, and the keyed hash that is all we store.
 * Nothing here calls a third-party service.
 */

export const FRAUD_REASONS = ['email_alias', 'disposable_email', 'same_network', 'same_device', 'velocity', 'referrer_disabled'] as const;
export type FraudReason = (typeof FRAUD_REASONS)[number];

/** What an admin reads next to each reason code in the review queue. */
export const FRAUD_REASON_TEXT: Record<FraudReason, string> = {
  email_alias: 'The email is an alias of the referrer’s address or of another referred person’s (same address once +tags and Gmail dots are removed).',
  disposable_email: 'The email is at a disposable (throwaway) domain.',
  same_network: 'Signed up from a network (/24 or /64) the referrer signed up or logged in from.',
  same_device: 'Signed up in a browser the referrer has used.',
  velocity: 'Too many referrals of this referrer from one network within an hour.',
  referrer_disabled: 'The referrer’s account was disabled when this friend confirmed.',
};

export const parseReasons = (stored: string): FraudReason[] =>
  stored.split(',').filter((r): r is FraudReason => (FRAUD_REASONS as readonly string[]).includes(r));

const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

/**
 * The mailbox an address really reaches: lower-cased, any +tag dropped (on every domain:
 * most providers deliver tags to the base mailbox), and for Gmail dots dropped and
 * googlemail.com folded into gmail.com.
 */
export function canonicalEmail(email: string): string {
  const lower = email.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at < 0) return lower;
  let local = lower.slice(0, at);
  let domain = lower.slice(at + 1);
  const plus = local.indexOf('+');
  if (plus >= 0) local = local.slice(0, plus);
  if (GMAIL_DOMAINS.has(domain)) {
    local = local.replace(/\./g, '');
    domain = 'gmail.com';
  }
  return `${local}@${domain}`;
}

// mailchecker is CommonJS and only `isValid` is visible to an ESM import; its domain list
// (refreshed with every release) is what we want, not its syntax check.
const mailchecker = createRequire(import.meta.url)('mailchecker') as typeof import('mailchecker');
const disposableDomains = mailchecker.blacklist();

/** Whether the address's domain, or any parent domain of it, is a known disposable one. */
export function isDisposableEmail(email: string): boolean {
  let domain = email
    .slice(email.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase();
  for (;;) {
    if (disposableDomains.has(domain)) return true;
    const dot = domain.indexOf('.');
    if (dot < 0) return false;
    domain = domain.slice(dot + 1);
  }
}

/**
 * The network an address belongs to, as people share them: an IPv4 /24 (a home, an
 * office, a café) or an IPv6 /64 (one subscriber's prefix). IPv4-mapped IPv6 counts as
 * IPv4. Null for anything that is not an address.
 */
export function networkOf(ip: string | undefined | null): string | null {
  return addressPrefix(ip, 24);
}

export type SignalKind = 'network' | 'device' | 'email';

/**
 * A keyed hash (HMAC-SHA-256, 128 bits kept) of a signal: equal inputs compare equal,
 * but a stored hash cannot be turned back into an address by trying them all without
 * the key. The kind is part of the input so hashes of different kinds never collide.
 */
export function createSignalHasher(secret: string) {
  const key = crypto.createHmac('sha256', secret).update('referral-fraud-signals-v1').digest();
  return (kind: SignalKind, value: string): string => crypto.createHmac('sha256', key).update(`${kind}\u0000${value}`).digest('base64url').slice(0, 22);
}

export type SignalHasher = ReturnType<typeof createSignalHasher>;

/** What the request that creates a referral (or an account) looked like, before hashing. */
export interface ClientContext {
  ip?: string | null;
  deviceId?: string | null;
}

/** The hashed network and device of a request, either null when unknown. */
export function hashClient(hash: SignalHasher, client: ClientContext): { networkHash: string | null; deviceHash: string | null } {
  const network = networkOf(client.ip);
  return {
    networkHash: network ? hash('network', network) : null,
    deviceHash: client.deviceId ? hash('device', client.deviceId) : null,
  };
}
