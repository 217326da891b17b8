import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

/**
 * One TLS context that trusts Node's public roots plus an extra certificate (a private CA, the
 * sandbox's), built once per adapter. Passing `ca` to an agent instead would cost on every
 * request: https.Agent folds `ca` into each pool key, turning ~150 PEM roots into a string and
 * hashing it per call (12 % of the gateway's CPU in the benchmark), and every new connection
 * would parse them all again.
 */
export function contextTrusting(extraCaPem: string | undefined): SecureContext | undefined {
  if (extraCaPem === undefined) return undefined;
  return createSecureContext({ ca: [...rootCertificates, extraCaPem] });
}
