import { writeFile } from 'node:fs/promises';
import { generate } from 'selfsigned';

/** Names the sandbox certificate is valid for: local addresses plus the Google hosts we stand in for. */
export const SANDBOX_TLS_DNS_NAMES = [
  'localhost',
  'fcm.googleapis.com',
  'oauth2.googleapis.com',
] as const;
export const SANDBOX_TLS_IP_ADDRESSES = ['127.0.0.1'] as const;

/** A key and a self-signed certificate for the local HTTPS fakes. */
export interface SandboxTls {
  /** PKCS#8 PEM private key. */
  readonly key: string;
  /** PEM certificate; being self-signed, it is also the CA a client must trust. */
  readonly cert: string;
}

const VALIDITY_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

let cached: Promise<SandboxTls> | undefined;

async function createSandboxTls(): Promise<SandboxTls> {
  const now = Date.now();
  const generated = await generate([{ name: 'commonName', value: 'Omnigate sandbox' }], {
    // P-256 keys are generated in milliseconds; RSA-2048 would slow every test run's first fake.
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    // A day of slack either side, so a skewed clock in a container does not reject the certificate.
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + VALIDITY_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...SANDBOX_TLS_DNS_NAMES.map((value) => ({ type: 2 as const, value })),
          ...SANDBOX_TLS_IP_ADDRESSES.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { key: generated.private, cert: generated.cert };
}

/**
 * The sandbox's key and certificate, generated once per process: every fake in a test run serves
 * the same certificate, so one `ca` (or one NODE_EXTRA_CA_CERTS file) trusts them all.
 */
export function sandboxTls(): Promise<SandboxTls> {
  cached ??= createSandboxTls().catch((error: unknown) => {
    // Do not cache a failure: a later caller may succeed.
    cached = undefined;
    throw error;
  });
  return cached;
}

/**
 * Writes the sandbox certificate (PEM) to `path` and returns the path, for a child process started
 * with NODE_EXTRA_CA_CERTS=<path> (the service in the demo, an e2e test's app process).
 */
export async function writeSandboxCaFile(path: string): Promise<string> {
  const { cert } = await sandboxTls();
  await writeFile(path, cert, { mode: 0o644 });
  return path;
}
