import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/environment';
import { sha256Hex } from './auth/api-keys';
import { MINIMAL_TEST_ENVIRONMENT } from '../config/testing';

const base = {
  ...MINIMAL_TEST_ENVIRONMENT,
};

function problemsOf(env: Record<string, string>): readonly string[] {
  const loaded = loadConfig({ ...base, ...env });
  return loaded.ok ? [] : loaded.problems;
}

describe('admin configuration', () => {
  it('has safe defaults: no credentials, RS256, the omnigate_role claim, 5 resends an hour', () => {
    const loaded = loadConfig(base);
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    expect(loaded.config.admin).toEqual({
      apiKeys: [],
      oidc: undefined,
      ratePerMinute: 120,
      resendsPerCustomerPerHour: 5,
      dryRunsPerCustomerPerHour: 30,
      authFailuresPerMinute: 10,
      bodyLimitBytes: 16384,
    });
  });

  it('reads keys from the variable and the file together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-keys-'));
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([{ id: 'b', role: 'admin', sha256: sha256Hex('b') }]));
    const loaded = loadConfig({
      ...base,
      ADMIN_API_KEYS: JSON.stringify([{ id: 'a', role: 'viewer', sha256: sha256Hex('a') }]),
      ADMIN_API_KEYS_FILE: file,
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    expect(loaded.config.admin.apiKeys.map((k) => k.id)).toEqual(['a', 'b']);
  });

  it('names each bad admin variable', () => {
    const problems = problemsOf({
      ADMIN_API_KEYS: '[{"id":"a","role":"root","sha256":"00"}]',
      ADMIN_OIDC_ISSUER: 'https://idp.test',
      ADMIN_OIDC_ALGORITHMS: 'HS256',
    });
    expect(problems.join('\n')).toMatch(/ADMIN_OIDC_ALGORITHMS/);
  });

  it('names a bad key list and an incomplete OIDC setting', () => {
    const problems = problemsOf({
      ADMIN_API_KEYS: '[{"id":"a","role":"root","sha256":"00"}]',
      ADMIN_OIDC_ISSUER: 'https://idp.test',
    }).join('\n');
    expect(problems).toMatch(/ADMIN_API_KEYS:/);
    expect(problems).toMatch(/set all three or none/);
  });

  it('names a JWKS URL that is not https and a bad maximum token age', () => {
    const problems = problemsOf({
      ADMIN_OIDC_JWKS_URL: 'http://idp.test/jwks.json',
      ADMIN_OIDC_ISSUER: 'https://idp.test',
      ADMIN_OIDC_AUDIENCE: 'omnigate-admin',
      ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS: 'soon',
      ADMIN_AUTH_FAILURES_PER_MINUTE: '0',
    }).join('\n');
    expect(problems).toMatch(/ADMIN_OIDC_JWKS_URL.*https/);
    expect(problems).toMatch(/ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS/);
    expect(problems).toMatch(/ADMIN_AUTH_FAILURES_PER_MINUTE/);
  });

  it('reads the maximum token age into the OIDC settings', () => {
    const loaded = loadConfig({
      ...base,
      ADMIN_OIDC_JWKS_URL: 'https://idp.test/jwks.json',
      ADMIN_OIDC_ISSUER: 'https://idp.test',
      ADMIN_OIDC_AUDIENCE: 'omnigate-admin',
      ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS: '900',
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    expect(loaded.config.admin.oidc?.maxTokenAgeSeconds).toBe(900);
  });
});
