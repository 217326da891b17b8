import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Addresses an outbound call to a URL someone else chose must never reach: the gateway's own
 * host, its cluster network and cloud metadata services. BlockList also matches IPv4-mapped IPv6
 * addresses (::ffff:127.0.0.1) against the IPv4 ranges.
 */
const NON_PUBLIC_RANGES: ReadonlyArray<readonly [string, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['carrier-grade NAT', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'], // includes the broadcast address
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['private', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
];

const RANGES = NON_PUBLIC_RANGES.map(([name, network, prefix, type]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return { name, list };
});

const familyOf = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** The kind of non-public range an address is in ("loopback", "private", …), or undefined. */
export function nonPublicRange(address: string): string | undefined {
  const family = familyOf(address);
  return RANGES.find((range) => range.list.check(address, family))?.name;
}

/** "10.0.0.0/8", "::1/128" or a bare address; the problem in words, or undefined. */
export function cidrProblem(entry: string): string | undefined {
  const [network = '', prefix, extra] = entry.split('/');
  const version = isIP(network);
  if (version === 0 || extra !== undefined) return `"${entry}" is not an IP address or CIDR range`;
  const bits = version === 4 ? 32 : 128;
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits)) {
    return `"${entry}" has a prefix length outside 0-${bits}`;
  }
  return undefined;
}

/** A BlockList of CIDR ranges checked with cidrProblem first. */
export function cidrList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const problem = cidrProblem(entry);
    if (problem) throw new Error(problem);
    const [network = '', prefix] = entry.split('/');
    const family = familyOf(network);
    list.addSubnet(
      network,
      prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix),
      family,
    );
  }
  return list;
}

/** Raised from the lookup, before any connection: every address the name resolved to is refused. */
export class RefusedAddressError extends Error {
  readonly code = 'EADDRREFUSED';

  constructor(readonly range: string) {
    // Neither the name nor the address: both come from the URL we were given.
    super(`the host resolves only to ${range} addresses`);
    this.name = 'RefusedAddressError';
  }
}

/**
 * A `lookup` for an http(s) Agent that keeps only public addresses, plus those in `allowed` (a
 * local sandbox). Checking the addresses the socket will connect to, rather than resolving the
 * name once beforehand, leaves no gap for DNS rebinding. IP literals skip `lookup` in Node, so a
 * caller must refuse them in the URL before the request (checkPushEndpoint does).
 */
export function publicAddressLookup(allowed: BlockList = new BlockList()): LookupFunction {
  const permitted = (address: string): boolean =>
    allowed.check(address, familyOf(address)) || nonPublicRange(address) === undefined;
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '');
        return;
      }
      const usable = addresses.filter((a) => permitted(a.address));
      const [first] = usable;
      if (!first) {
        const range = addresses[0] ? (nonPublicRange(addresses[0].address) ?? 'refused') : 'no';
        callback(new RefusedAddressError(range), '');
        return;
      }
      if (options.all) callback(null, usable);
      else callback(null, first.address, first.family);
    });
  };
}
