import ipaddr from 'ipaddr.js';

/**
 * The part of a client address that stands for one client or one network: IPv4 keeps
 * `ipv4Bits` bits (32, the address; 24, the network); IPv6 always keeps the /64, since a
 * subscriber usually owns a whole /64 and can rotate freely inside it. IPv4-mapped IPv6
 * counts as IPv4. Null for anything that is not an address.
 */
export function addressPrefix(ip: string | null | undefined, ipv4Bits: 24 | 32): string | null {
  if (!ip || !ipaddr.isValid(ip)) return null;
  const addr = ipaddr.process(ip);
  if (addr.kind() === 'ipv4') {
    if (ipv4Bits === 32) return addr.toString();
    const [a, b, c] = addr.toByteArray();
    return `${a}.${b}.${c}.0/24`;
  }
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}
