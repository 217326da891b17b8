import type { LookupAddress } from 'node:dns';
import {
  cidrList,
  cidrProblem,
  nonPublicRange,
  publicAddressLookup,
  RefusedAddressError,
} from './address-guard';

describe('nonPublicRange', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'], // cloud metadata
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:100.64.0.1', 'carrier-grade NAT'],
    ['::ffff:192.168.0.1', 'private'],
  ])('%s is %s', (address, range) => {
    expect(nonPublicRange(address)).toBe(range);
  });

  it.each([
    '1.1.1.1',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '142.250.74.106',
    '2001:4860:4860::8888',
    'fec0::1',
    '::ffff:142.250.74.106',
  ])('%s is public', (address) => {
    expect(nonPublicRange(address)).toBeUndefined();
  });
});

describe('cidrProblem and cidrList', () => {
  it.each(['127.0.0.1', '127.0.0.1/32', '10.0.0.0/8', '::1', 'fd00::/8', '0.0.0.0/0'])(
    'accepts %s',
    (entry) => expect(cidrProblem(entry)).toBeUndefined(),
  );

  it.each([
    ['localhost', 'is not an IP address or CIDR range'],
    ['127.0.0.1/33', 'has a prefix length outside 0-32'],
    ['::1/129', 'has a prefix length outside 0-128'],
    ['10.0.0.0/x', 'has a prefix length outside 0-32'],
    ['10.0.0.0/8/8', 'is not an IP address or CIDR range'],
    ['', 'is not an IP address or CIDR range'],
  ])('refuses %s', (entry, problem) => expect(cidrProblem(entry)).toContain(problem));

  it('makes a bare address a single-address range', () => {
    const list = cidrList(['127.0.0.1', 'fd00::/8']);
    expect(list.check('127.0.0.1', 'ipv4')).toBe(true);
    expect(list.check('127.0.0.2', 'ipv4')).toBe(false);
    expect(list.check('fd00::5', 'ipv6')).toBe(true);
  });
});

describe('publicAddressLookup', () => {
  type Answer = { error: NodeJS.ErrnoException | null; addresses: string | LookupAddress[] };
  const resolve = (
    hostname: string,
    all: boolean,
    allowed: readonly string[] = [],
  ): Promise<Answer> =>
    new Promise((done) => {
      publicAddressLookup(cidrList(allowed))(hostname, { all }, (error, addresses) =>
        done({ error, addresses }),
      );
    });

  it('refuses a name that resolves only to loopback, before any connection', async () => {
    for (const all of [true, false]) {
      const { error } = await resolve('localhost', all);
      expect(error).toBeInstanceOf(RefusedAddressError);
      expect(error).toMatchObject({ code: 'EADDRREFUSED', range: 'loopback' });
      expect(error?.message).toBe('the host resolves only to loopback addresses');
    }
  });

  it('keeps only the addresses an allowance names (a local sandbox)', async () => {
    const { error, addresses } = await resolve('localhost', true, ['127.0.0.1/32']);
    expect(error).toBeNull();
    expect(addresses).toEqual([{ address: '127.0.0.1', family: 4 }]);
    const single = await resolve('localhost', false, ['127.0.0.0/8']);
    expect(single.addresses).toBe('127.0.0.1');
  });

  it('passes resolver errors through', async () => {
    const { error } = await resolve('name.invalid', false);
    expect(error?.code).toMatch(/^E(NOTFOUND|AI_AGAIN)$/);
  });
});
