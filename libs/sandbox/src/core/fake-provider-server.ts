import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { FailurePlan, ProviderFake, RecordedRequest } from './types';

/**
 * `failNext.status` value that makes the fake drop the connection without answering, so clients
 * see "socket hang up" / ECONNRESET as they would from a provider's failing load balancer.
 */
export const DROP_CONNECTION = 0;

/** A request as the fake received it; header names are lower-case, repeated headers joined by ", ". */
export interface FakeRequest {
  readonly method: string;
  /** The path without the query string, e.g. /v3/mail/send */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly rawBody: Buffer;
}

/** What a fake understood of a request; this is what gets recorded. */
export interface ParsedRequest {
  readonly body: unknown;
  readonly recipient?: string;
}

/** What a fake answers. */
export interface FakeResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Strings and Buffers are sent as they are, anything else as JSON; undefined sends no body. */
  readonly body?: unknown;
  /** Recorded with the request when the fake accepted the message. */
  readonly providerMessageId?: string;
}

/** A failure the plan chose for one request, before the fake looked at the request itself. */
export interface PlannedFailure {
  readonly reason: 'fail_next' | 'server_error' | 'rate_limited';
  /** HTTP status to answer with; never DROP_CONNECTION (the server handles that itself). */
  readonly status: number;
  readonly retryAfterSeconds?: number;
}

export interface FakeServerOptions {
  /** Serve HTTPS with this key and certificate (web push clients refuse plain HTTP). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** The plan the fake starts with and returns to on reset(); healthy when omitted. */
  readonly failurePlan?: FailurePlan;
  /** Source of randomness in [0, 1) for latency and error rates; inject one for repeatable runs. */
  readonly random?: () => number;
  /** Oldest records are dropped beyond this many, so a long demo or benchmark stays bounded. */
  readonly maxRecordedRequests?: number;
}

const DEFAULT_MAX_RECORDED_REQUESTS = 10_000;
// Longer than any client's idle keep-alive, so the server never closes a socket a client is about
// to reuse (which would surface as a spurious ECONNRESET in tests).
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** `Retry-After` when the plan gave a delay; no header otherwise. */
export function retryAfterHeaders(retryAfterSeconds: number | undefined): Record<string, string> {
  return retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
}

/** Rejects plans that would make a fake behave in ways no test meant (rates above 1, min > max). */
export function assertValidFailurePlan(plan: FailurePlan): void {
  const problems: string[] = [];
  const checkRate = (name: string, rate: number | undefined) => {
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) problems.push(`${name} must be in 0..1`);
  };
  checkRate('serverErrorRate', plan.serverErrorRate);
  checkRate('rateLimitRate', plan.rateLimitRate);
  if (plan.latency && !(plan.latency.minMs >= 0 && plan.latency.minMs <= plan.latency.maxMs)) {
    problems.push('latency must satisfy 0 <= minMs <= maxMs');
  }
  if (
    plan.serverErrorStatus !== undefined &&
    !(plan.serverErrorStatus >= 500 && plan.serverErrorStatus <= 599)
  ) {
    problems.push('serverErrorStatus must be a 5xx status');
  }
  if (plan.retryAfterSeconds !== undefined && !(plan.retryAfterSeconds >= 0)) {
    problems.push('retryAfterSeconds must be >= 0');
  }
  if (plan.failNext) {
    const { count, status } = plan.failNext;
    if (!Number.isInteger(count) || count < 0)
      problems.push('failNext.count must be an integer >= 0');
    if (status !== DROP_CONNECTION && !(status >= 400 && status <= 599)) {
      problems.push('failNext.status must be a 4xx/5xx status or DROP_CONNECTION (0)');
    }
  }
  if (problems.length > 0) throw new RangeError(`invalid failure plan: ${problems.join('; ')}`);
}

/**
 * The HTTP server under every provider fake. It reads the request, lets the fake parse it, applies
 * the failure plan (latency, failNext, serverErrorRate, rateLimitRate, in that order), otherwise lets
 * the fake answer, and records every exchange. Subclasses supply the vendor's parsing, answers and
 * error shapes; recipient errors are theirs to apply because only they know where the recipient is.
 */
export abstract class FakeProviderServer implements ProviderFake {
  abstract readonly name: RecordedRequest['provider'];

  private readonly server: HttpServer | HttpsServer;
  private readonly scheme: 'http' | 'https';
  /** Source of randomness in [0, 1), the one the options gave. */
  protected readonly random: () => number;
  private readonly maxRecordedRequests: number;
  private readonly initialPlan: FailurePlan;
  private readonly recorded: RecordedRequest[] = [];
  private plan: FailurePlan;
  private failNextRemaining: number;
  private baseUrl: string | undefined;
  private opened = 0;
  private inFlight = 0;
  private peak = 0;

  protected constructor(options: FakeServerOptions = {}) {
    this.initialPlan = options.failurePlan ?? {};
    assertValidFailurePlan(this.initialPlan);
    this.plan = this.initialPlan;
    this.failNextRemaining = this.initialPlan.failNext?.count ?? 0;
    this.random = options.random ?? Math.random;
    this.maxRecordedRequests = options.maxRecordedRequests ?? DEFAULT_MAX_RECORDED_REQUESTS;
    const listener = (request: IncomingMessage, response: ServerResponse) => {
      this.handle(request, response).catch((error: unknown) => {
        // The client went away while we read or answered; nothing is left to tell it.
        response.destroy(error instanceof Error ? error : undefined);
      });
    };
    this.scheme = options.tls ? 'https' : 'http';
    this.server = options.tls
      ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
      : createHttpServer(listener);
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.on('connection', () => (this.opened += 1));
  }

  /** Starts listening (port 0 picks a free port) and resolves to the fake itself. */
  async listen(port = 0, host = '127.0.0.1'): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const printableHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.baseUrl = `${this.scheme}://${printableHost}:${address.port}`;
    return this;
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error(`${this.name} fake is not listening yet`);
    return this.baseUrl;
  }

  get requests(): readonly RecordedRequest[] {
    return this.recorded;
  }

  /** TCP connections clients opened since the fake started: few for a client that keeps them alive. */
  get connectionsOpened(): number {
    return this.opened;
  }

  /** The most requests the fake was answering at once since the last reset. */
  get peakInFlight(): number {
    return this.peak;
  }

  get failurePlan(): FailurePlan {
    return this.plan;
  }

  /** Replaces the plan; failNext counts from the new plan's count. */
  setFailurePlan(plan: FailurePlan): void {
    assertValidFailurePlan(plan);
    this.plan = plan;
    this.failNextRemaining = plan.failNext?.count ?? 0;
  }

  /** Forgets recorded requests and goes back to the plan the fake was created with. */
  reset(): void {
    this.recorded.length = 0;
    this.peak = this.inFlight;
    this.setFailurePlan(this.initialPlan);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    );
    // close() alone waits for keep-alive clients to hang up, which pooled SDK agents never do.
    this.server.closeAllConnections();
    await closed;
  }

  /** Turns the raw request into what is recorded (form fields, JSON, decrypted payload). */
  protected abstract parse(request: FakeRequest): ParsedRequest;

  /** The vendor's answer when the plan did not fail the request. */
  protected abstract respond(
    request: FakeRequest,
    parsed: ParsedRequest,
    plan: FailurePlan,
  ): FakeResponse | Promise<FakeResponse>;

  /** The vendor's answer for a failure the plan chose (its error shape, rate-limit headers). */
  protected abstract failureResponse(
    failure: PlannedFailure,
    request: FakeRequest,
    parsed: ParsedRequest,
  ): FakeResponse;

  /**
   * Called once the answer is written: what the provider does next on its own (status callbacks,
   * event webhooks, a device acknowledging a push). Nothing by default.
   */
  protected afterAnswer(
    _request: FakeRequest,
    _parsed: ParsedRequest,
    _response: FakeResponse,
  ): void {
    // A fake without an outbound half has nothing to do.
  }

  private async handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      await this.answer(incoming, outgoing);
    } finally {
      this.inFlight -= 1;
    }
  }

  private async answer(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const request = await readRequest(incoming);
    const parsed = this.safeParse(request);
    const plan = this.plan;
    if (plan.latency) {
      const { minMs, maxMs } = plan.latency;
      await delay(minMs + this.random() * (maxMs - minMs));
    }
    const failure = this.chooseFailure(plan);
    if (failure === 'drop') {
      this.record(request, parsed, { status: DROP_CONNECTION });
      outgoing.socket?.destroy();
      return;
    }
    let response: FakeResponse;
    try {
      response = failure
        ? this.failureResponse(failure, request, parsed)
        : await this.respond(request, parsed, plan);
    } catch (error) {
      // A bug in a fake should be visible in the test that hit it, not hang the client.
      response = { status: 500, body: { fakeError: String(error) } };
    }
    this.record(request, parsed, response);
    await writeResponse(outgoing, response);
    this.afterAnswer(request, parsed, response);
  }

  private chooseFailure(plan: FailurePlan): PlannedFailure | 'drop' | undefined {
    if (plan.failNext && this.failNextRemaining > 0) {
      this.failNextRemaining -= 1;
      const { status, retryAfterSeconds } = plan.failNext;
      if (status === DROP_CONNECTION) return 'drop';
      return { reason: 'fail_next', status, retryAfterSeconds };
    }
    if (plan.serverErrorRate && this.random() < plan.serverErrorRate) {
      return { reason: 'server_error', status: plan.serverErrorStatus ?? 503 };
    }
    if (plan.rateLimitRate && this.random() < plan.rateLimitRate) {
      return { reason: 'rate_limited', status: 429, retryAfterSeconds: plan.retryAfterSeconds };
    }
    return undefined;
  }

  private safeParse(request: FakeRequest): ParsedRequest {
    try {
      return this.parse(request);
    } catch {
      // Unparseable bodies are still recorded; the fake's respond() decides how to reject them.
      return { body: request.rawBody.toString('utf8') };
    }
  }

  private record(request: FakeRequest, parsed: ParsedRequest, response: FakeResponse): void {
    this.recorded.push({
      provider: this.name,
      receivedAt: new Date().toISOString(),
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: parsed.body,
      status: response.status,
      providerMessageId: response.providerMessageId,
      recipient: parsed.recipient,
    });
    if (this.recorded.length > this.maxRecordedRequests) this.recorded.shift();
  }
}

async function readRequest(incoming: IncomingMessage): Promise<FakeRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const url = new URL(incoming.url ?? '/', 'http://fake.invalid');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    method: incoming.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers,
    rawBody: Buffer.concat(chunks),
  };
}

async function writeResponse(outgoing: ServerResponse, response: FakeResponse): Promise<void> {
  const headers: Record<string, string> = { ...response.headers };
  let payload: Buffer | undefined;
  if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) {
    payload = Buffer.from(response.body);
  } else if (response.body !== undefined) {
    payload = Buffer.from(JSON.stringify(response.body));
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  headers['content-length'] = String(payload?.length ?? 0);
  outgoing.writeHead(response.status, headers);
  await new Promise<void>((resolve) => outgoing.end(payload, resolve));
}
