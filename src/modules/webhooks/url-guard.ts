import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { CONTROL_CHARS } from '../../http/validate.js';

/**
 * Server-side request forgery guard. A webhook URL is typed by an admin, but the request
 * is made by the server, from inside its network: a URL that leads to loopback, a private
 * network or the cloud metadata address (169.254.169.254) would let whoever controls the
 * URL reach services that trust the server. Only public unicast addresses are allowed,
 * checked after DNS resolution, and checked again on the connection of every delivery
 * (a name can resolve to a public address at registration and to 127.0.0.1 later).
 */

/** Every address a name resolves to, as `dns.promises.lookup(name, { all: true })` answers. */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** A target the guard refuses; its message says why, for the admin form and the delivery log. */
export class RefusedTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedTargetError';
  }
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  uniqueLocal: 'unique-local',
  carrierGradeNat: 'carrier-grade NAT',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
};

/** Why an address may not be connected to, or null for a public unicast address. */
export function addressRefusal(address: string): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // process() turns IPv4-mapped IPv6 (::ffff:127.0.0.1) into the IPv4 address it carries.
  const range = ipaddr.process(address).range();
  if (range === 'unicast') return null;
  return `${address} is a ${RANGE_NAMES[range] ?? `reserved (${range})`} address`;
}

const ALLOW_HINT = 'Webhook targets must be public (WEBHOOK_ALLOW_PRIVATE=true allows private ones).';

/** The URL's host without the brackets of an IPv6 literal. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * The URL an admin may register, or the message that says what is wrong with it:
 * http(s), a host, no user name or password. The fragment is dropped (never sent).
 */
export function parseTargetUrl(raw: string): URL | string {
  if (CONTROL_CHARS.test(raw)) return 'A URL cannot contain line breaks or control characters.';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'Enter a full URL, starting with https://.';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'The URL must start with https:// or http://.';
  if (!url.hostname) return 'The URL needs a host name.';
  if (url.username || url.password) return 'Leave user names and passwords out of the URL; verify deliveries with the signing secret instead.';
  url.hash = '';
  return url;
}

/**
 * The guard of one app: `check` at registration, `connectOptions` for each delivery.
 * With `allowPrivate` (WEBHOOK_ALLOW_PRIVATE) neither refuses anything.
 */
export function createTargetGuard(options: { allowPrivate: boolean; resolve?: Resolver }) {
  const { allowPrivate } = options;
  const resolve = options.resolve ?? systemResolver;

  async function addressesOf(host: string): Promise<{ address: string; family: number }[]> {
    if (net.isIP(host)) return [{ address: host, family: net.isIP(host) }];
    const found = await resolve(host);
    if (found.length === 0) throw Object.assign(new Error(`${host} has no addresses`), { code: 'ENOTFOUND' });
    return found;
  }

  /** Refuses when any one of the addresses is not public: the client may pick any of them. */
  function refuseUnlessPublic(host: string, addresses: readonly { address: string }[]): void {
    for (const { address } of addresses) {
      const why = addressRefusal(address);
      if (why) throw new RefusedTargetError(`Refused: ${host === address ? why : `${host} resolves to ${address}; ${why}`}. ${ALLOW_HINT}`);
    }
  }

  /**
   * A connection lookup that resolves the name and hands the socket only addresses it
   * has just checked, so what is checked is what is connected to (no DNS rebinding in
   * between). Node calls it with `all: true` when it races IPv4 and IPv6.
   */
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    addressesOf(hostname).then(
      (addresses) => {
        try {
          refuseUnlessPublic(hostname, addresses);
        } catch (err) {
          callback(err as NodeJS.ErrnoException, '', 0);
          return;
        }
        const family = lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
        else if (lookupOptions.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };

  return {
    /** Registration: resolves the host and refuses it unless every address is public. */
    async check(url: URL): Promise<void> {
      if (allowPrivate) return;
      const host = hostOf(url);
      let addresses: { address: string; family: number }[];
      try {
        addresses = await addressesOf(host);
      } catch {
        throw new RefusedTargetError(`Refused: ${host} could not be resolved. Check the host name.`);
      }
      refuseUnlessPublic(host, addresses);
    },
    /**
     * Delivery: the http.request options that confine the connection to checked
     * addresses. An IP literal never reaches a lookup, so it is checked here; a refusal
     * throws RefusedTargetError before any request is made.
     */
    connectOptions(url: URL): { lookup?: LookupFunction } {
      if (allowPrivate) return {};
      const host = hostOf(url);
      if (net.isIP(host)) {
        refuseUnlessPublic(host, [{ address: host }]);
        return {};
      }
      return { lookup };
    },
  };
}

export type TargetGuard = ReturnType<typeof createTargetGuard>;
