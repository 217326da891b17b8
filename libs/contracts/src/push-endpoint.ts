import { parse as legacyParse } from 'node:url';

/**
 * Web push endpoints come from browsers through producers, so the gateway POSTs to a URL it did
 * not choose. web-push connects with Node's legacy `url.parse`, which reads some strings
 * differently from the WHATWG `URL` every other check uses: `https://127.0.0.1;.push.apple.com/x`
 * is a push.apple.com host to `URL` and 127.0.0.1 to `url.parse`. An endpoint passes only when its
 * authority is plain enough that both parsers must agree, and they do.
 */

/** A DNS label: lowercase letters, digits and inner hyphens, 1 to 63 characters. */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/**
 * The authority as written: lowercase DNS labels and an optional port. This leaves out userinfo
 * (`@`), IPv6 literals (`[`), percent-encoding, backslashes, `;`, whitespace, uppercase and a
 * trailing dot, every place where the two parsers part.
 */
const AUTHORITY = new RegExp(
  `^https://(${LABEL}(?:\\.${LABEL})*)(?::([1-9][0-9]{0,4}))?(?=[/?]|$)`,
);
/** A last label of digits (or 0x…) makes WHATWG read the host as an IPv4 address. */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/;
const MAX_HOST_LENGTH = 253;
const MAX_PORT = 65535;

export type PushEndpointCheck =
  | {
      readonly ok: true;
      /** The WHATWG serialisation: what to send to, never the string as received. */
      readonly href: string;
      readonly hostname: string;
      /** The port as written, or undefined for the https default. */
      readonly port: number | undefined;
    }
  | { readonly ok: false; readonly problem: string };

/**
 * Answers already given, by endpoint. A subscription comes back with every message to its
 * customer and is checked twice per message (the schema, then the adapter), and the two URL
 * parsers cost about 5 µs a check. Bounded, oldest out first; the answer is a pure function of the
 * string, so a remembered one is always right.
 */
const remembered = new Map<string, PushEndpointCheck>();
const REMEMBERED_MAX = 1024;
/**
 * Only endpoints of a length the schema accepts are remembered: its refinement still runs on a
 * longer one, which a producer may make as long as a record allows, and 1,024 of those must not
 * hold megabytes.
 */
export const MAX_PUSH_ENDPOINT_LENGTH = 2048;

/** Why an endpoint is unsafe to call, in words that never quote it (it is a capability URL). */
export function checkPushEndpoint(endpoint: string): PushEndpointCheck {
  const known = remembered.get(endpoint);
  if (known !== undefined) return known;
  const answer = Object.freeze(checkUncached(endpoint));
  if (endpoint.length > MAX_PUSH_ENDPOINT_LENGTH) return answer;
  if (remembered.size >= REMEMBERED_MAX) {
    remembered.delete(remembered.keys().next().value!);
  }
  remembered.set(endpoint, answer);
  return answer;
}

function checkUncached(endpoint: string): PushEndpointCheck {
  const authority = AUTHORITY.exec(endpoint);
  if (!authority) {
    return {
      ok: false,
      problem:
        'must be an https:// URL whose host is a lowercase DNS name (no IP address, user, "%", "\\" or ";")',
    };
  }
  const host = authority[1]!;
  const writtenPort = authority[2] === undefined ? undefined : Number(authority[2]);
  if (host.length > MAX_HOST_LENGTH || NUMERIC_LAST_LABEL.test(host)) {
    return { ok: false, problem: 'must name its host by a DNS name, not an IP address' };
  }
  if (writtenPort !== undefined && writtenPort > MAX_PORT) {
    return { ok: false, problem: 'has a port outside 1-65535' };
  }
  if (!URL.canParse(endpoint)) return { ok: false, problem: 'is not a URL' };
  const url = new URL(endpoint);
  if (url.hash !== '' || endpoint.includes('#')) {
    return { ok: false, problem: 'must not have a fragment' };
  }
  const legacy = legacyParse(url.href);
  const agree =
    legacy.protocol === 'https:' &&
    url.protocol === 'https:' &&
    legacy.auth === null &&
    legacy.hostname === host &&
    url.hostname === host &&
    (legacy.port ?? '') === url.port &&
    legacy.path === `${url.pathname}${url.search}`;
  if (!agree) {
    return { ok: false, problem: 'is read differently by the URL parsers the gateway uses' };
  }
  // WHATWG drops the default port, so 443 written out and left out look the same from here on.
  return {
    ok: true,
    href: url.href,
    hostname: host,
    port: url.port === '' ? undefined : Number(url.port),
  };
}
