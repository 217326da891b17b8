import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * One HTTP exchange over Node's own client and a pooled keep-alive agent, for the SDKs (twilio,
 * @sendgrid/client) whose default transport is axios. They keep building the request and reading
 * the answer; only the wire underneath is this. Measured against each SDK's local fake, with the
 * same SDK code above it: 350-440 against 150-210 µs of CPU a Twilio message, most of it axios's
 * per-request config merging and its allocations (a seventh of the gateway's allocations in the
 * benchmark). No retries and no redirects: those decisions belong to the dispatch service.
 */

/** Answer bodies above this many bytes are refused: a mail or message API answers in a few KB. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** A request that got no (complete) HTTP answer. `code` is Node's (ECONNREFUSED, ECONNRESET…),
 *  ETIMEDOUT for our whole-request timeout, or ERR_ANSWER_TOO_LARGE. */
export class TransportError extends Error {
  override readonly name = 'TransportError';

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpExchange {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string | number>>;
  readonly body?: string;
  /** From the first byte out to the last byte in. */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8 text; the SDK above decides what it means. */
  readonly body: string;
}

/** Keep-alive connection pools, one per scheme, at most `maxSockets` connections each. */
export class HttpTransport {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(options: { readonly maxSockets: number; readonly idleTimeoutMs: number }) {
    const pool = {
      keepAlive: true,
      maxSockets: options.maxSockets,
      timeout: options.idleTimeoutMs,
    };
    this.http = new HttpAgent(pool);
    this.https = new HttpsAgent(pool);
  }

  exchange(call: HttpExchange): Promise<HttpAnswer> {
    const secure = call.url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = { ...call.headers };
    if (call.body !== undefined) headers['Content-Length'] = Buffer.byteLength(call.body);
    return new Promise<HttpAnswer>((resolve, reject) => {
      // Settles once, before the socket is torn down: a destroyed request may emit nothing more.
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(asTransportError(error));
        request.destroy();
      };
      const request = send(
        call.url,
        { method: call.method, headers, agent: secure ? this.https : this.http },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              fail(
                new TransportError('ERR_ANSWER_TOO_LARGE', `answer over ${MAX_ANSWER_BYTES} bytes`),
              );
              return;
            }
            chunks.push(chunk);
          });
          response.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
          response.on('error', fail);
        },
      );
      const timer = setTimeout(() => {
        fail(new TransportError('ETIMEDOUT', `no complete answer within ${call.timeoutMs} ms`));
      }, call.timeoutMs);
      request.on('error', fail);
      request.end(call.body);
    });
  }
}

/** Node's words and code, never the request: its options carry credentials and the recipient. */
function asTransportError(error: Error): TransportError {
  if (error instanceof TransportError) return error;
  const code = (error as Error & { code?: unknown }).code;
  return new TransportError(
    typeof code === 'string' && code !== '' ? code : 'ERR_NETWORK',
    error.message,
  );
}

/**
 * What axios handed the SDKs as a body: the parsed JSON, or the text itself when it is not JSON
 * (an HTML error page from a proxy, a 202 without a body). The SDK above decides what that means.
 */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
