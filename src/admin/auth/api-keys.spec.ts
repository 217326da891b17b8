import { apiKeyEntriesSchema, matchApiKey, sha256Hex } from './api-keys';

const keys = apiKeyEntriesSchema.parse([
  { id: 'viewer-1', role: 'viewer', sha256: sha256Hex('viewer-secret') },
  { id: 'admin-1', role: 'admin', sha256: sha256Hex('admin-secret').toUpperCase() },
]);

describe('admin API keys', () => {
  it('stores only the hex SHA-256 of a key', () => {
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('finds the key a secret belongs to, whatever the case of the stored hex', () => {
    expect(matchApiKey(keys, 'viewer-secret')).toEqual({
      id: 'viewer-1',
      role: 'viewer',
      via: 'api-key',
    });
    expect(matchApiKey(keys, 'admin-secret')?.role).toBe('admin');
  });

  it('refuses an unknown, empty or near-miss secret', () => {
    for (const secret of ['', 'viewer-secreT', 'viewer-secret ', sha256Hex('viewer-secret')]) {
      expect(matchApiKey(keys, secret)).toBeUndefined();
    }
  });

  it('refuses a config with a bad hash, an unknown role or a repeated id', () => {
    expect(apiKeyEntriesSchema.safeParse([{ id: 'a', role: 'viewer', sha256: 'zz' }]).success).toBe(
      false,
    );
    expect(
      apiKeyEntriesSchema.safeParse([{ id: 'a', role: 'root', sha256: sha256Hex('x') }]).success,
    ).toBe(false);
    const twice = { id: 'a', role: 'viewer', sha256: sha256Hex('x') };
    expect(apiKeyEntriesSchema.safeParse([twice, twice]).success).toBe(false);
  });
});
