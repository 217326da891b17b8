import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { OidcVerifier as Verifier, OidcSettings } from './oidc-verifier';

/*
 * jose is ESM-only, and jest loads it only with NODE_OPTIONS=--experimental-vm-modules. Without
 * that flag this file runs itself once more in a child jest that has it, so the checks below run
 * in every `npm test` either way. Tokens are signed here with node:crypto, so the test does not
 * trust jose to produce what it then checks.
 */
const esmReady = (process.env.NODE_OPTIONS ?? '').includes('--experimental-vm-modules');
const suite = esmReady ? describe : describe.skip;

if (!esmReady) {
  it('passes the JWT checks in a jest run that can load jose', () => {
    const jest = require.resolve('jest/bin/jest');
    const run = spawnSync(
      process.execPath,
      [jest, '--selectProjects', 'unit', '--runTestsByPath', __filename],
      {
        cwd: join(__dirname, '..', '..', '..'),
        env: {
          ...process.env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim(),
        },
        encoding: 'utf8',
        timeout: 60000,
      },
    );
    if (run.status !== 0) throw new Error(`JWT checks failed:\n${run.stderr}`);
    expect(run.stderr).toMatch(/Tests:\s+\d+ passed/);
  });
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function signJwt(
  key: KeyObject,
  kid: string,
  claims: Record<string, unknown>,
  alg: 'RS256' | 'PS256' = 'RS256',
): string {
  const input = `${b64({ alg, typ: 'JWT', kid })}.${b64(claims)}`;
  const signature =
    alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key)
      : sign('sha256', Buffer.from(input), { key, padding: 6, saltLength: 32 });
  return `${input}.${signature.toString('base64url')}`;
}

suite('OIDC token verification against a local JWKS', () => {
  const kid = randomUUID();
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  let server: Server;
  let verifier: Verifier;
  let ageLimited: Verifier;
  let jwksRequests = 0;
  const now = (): number => Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    iss: 'https://idp.test',
    aud: 'omnigate-admin',
    sub: 'agent-7',
    exp: now() + 300,
    iat: now(),
    omnigate_role: 'agent',
    ...extra,
  });

  beforeAll(async () => {
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => {
      jwksRequests += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const settings: OidcSettings = {
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
      issuer: 'https://idp.test',
      audience: 'omnigate-admin',
      algorithms: ['RS256'],
      roleClaim: 'omnigate_role',
    };
    // Required here, not imported above, so the skipped suite never loads jose.
    const { OidcVerifier } =
      jest.requireActual<typeof import('./oidc-verifier')>('./oidc-verifier');
    verifier = new OidcVerifier(settings);
    ageLimited = new OidcVerifier({ ...settings, maxTokenAgeSeconds: 600 });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('accepts a valid token and takes the role from the claim', async () => {
    await expect(verifier.verify(signJwt(privateKey, kid, claims()))).resolves.toEqual({
      id: 'oidc:agent-7',
      role: 'agent',
      via: 'oidc',
    });
    expect(jwksRequests).toBeGreaterThanOrEqual(1);
  });

  it('takes the highest known role from a list', async () => {
    const token = signJwt(privateKey, kid, claims({ omnigate_role: ['viewer', 'admin', 'x'] }));
    await expect(verifier.verify(token)).resolves.toMatchObject({ role: 'admin' });
  });

  it.each([
    ['expired', claims({ exp: now() - 60 }), /expired/],
    ['another audience', claims({ aud: 'someone-else' }), /aud/],
    ['another issuer', claims({ iss: 'https://evil.test' }), /iss/],
    ['no expiry', claims({ exp: undefined }), /exp/],
    ['no role', claims({ omnigate_role: undefined }), /omnigate_role/],
    ['an unknown role', claims({ omnigate_role: 'root' }), /omnigate_role/],
  ])('refuses a token with %s', async (_name, body, message) => {
    await expect(verifier.verify(signJwt(privateKey, kid, body))).rejects.toThrow(message);
  });

  it('refuses a token signed by another key or with an algorithm not pinned', async () => {
    await expect(verifier.verify(signJwt(stranger, kid, claims()))).rejects.toThrow(/signature/);
    await expect(verifier.verify(signJwt(privateKey, kid, claims(), 'PS256'))).rejects.toThrow(
      /algorithm/,
    );
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    await expect(verifier.verify(unsigned)).rejects.toThrow();
  });

  it('with a maximum token age, refuses a token issued too long ago or without iat', async () => {
    const fresh = signJwt(privateKey, kid, claims({ iat: now() - 60 }));
    await expect(ageLimited.verify(fresh)).resolves.toMatchObject({ role: 'agent' });
    const old = signJwt(privateKey, kid, claims({ iat: now() - 3600 }));
    await expect(ageLimited.verify(old)).rejects.toThrow(/issued longer ago/);
    const undated = signJwt(privateKey, kid, claims({ iat: undefined }));
    await expect(ageLimited.verify(undated)).rejects.toThrow(/iat/);
    // Without the setting, the same tokens pass: the age check is the setting's doing.
    await expect(verifier.verify(old)).resolves.toMatchObject({ role: 'agent' });
    await expect(verifier.verify(undated)).resolves.toMatchObject({ role: 'agent' });
  });
});
