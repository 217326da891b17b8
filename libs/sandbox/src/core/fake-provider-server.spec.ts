import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { generate } from 'selfsigned';
import type { FailurePlan } from './types';
import {
  DROP_CONNECTION,
  FakeProviderServer,
  retryAfterHeaders,
  type FakeRequest,
  type FakeResponse,
  type FakeServerOptions,
  type ParsedRequest,
  type PlannedFailure,
} from './fake-provider-server';

/** The smallest possible fake: echoes the body, fails recipients from the plan with their code. */
class EchoFake extends FakeProviderServer {
  readonly name = 'twilio' as const;

  constructor(options?: FakeServerOptions) {
    super(options);
  }

  protected parse(request: FakeRequest): ParsedRequest {
    const text = request.rawBody.toString('utf8');
    return { body: text, recipient: text };
  }

  protected respond(_request: FakeRequest, parsed: ParsedRequest, plan: FailurePlan): FakeResponse {
    const code = parsed.recipient ? plan.recipientErrors?.[parsed.recipient] : undefined;
    if (code) return { status: 400, body: { code } };
    return { status: 200, body: { echo: parsed.body }, providerMessageId: 'id-1' };
  }

  protected failureResponse(failure: PlannedFailure): FakeResponse {
    return {
      status: failure.status,
      headers: retryAfterHeaders(failure.retryAfterSeconds),
      body: { reason: failure.reason },
    };
  }
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function post(url: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/anything?x=1`, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('FakeProviderServer', () => {
  let fake: EchoFake;

  afterEach(async () => {
    await fake.close();
  });

  it('answers through the subclass and records the exchange', async () => {
    fake = await new EchoFake().listen();
    expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const answer = await post(fake.url, 'héllo 你好');

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ echo: 'héllo 你好' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      provider: 'twilio',
      method: 'POST',
      path: '/anything',
      body: 'héllo 你好',
      status: 200,
      providerMessageId: 'id-1',
      recipient: 'héllo 你好',
    });
  });

  it('fails exactly the next N requests, then is healthy again', async () => {
    fake = await new EchoFake().listen();
    fake.setFailurePlan({ failNext: { count: 2, status: 429, retryAfterSeconds: 3 } });

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await post(fake.url, 'a')).status);

    expect(statuses).toEqual([429, 429, 200]);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('passes the retry-after of failNext to the vendor answer', async () => {
    fake = await new EchoFake().listen();
    fake.setFailurePlan({ failNext: { count: 1, status: 429, retryAfterSeconds: 3 } });

    const answer = await post(fake.url, 'a');

    expect(answer.headers['retry-after']).toBe('3');
    expect(JSON.parse(answer.body)).toEqual({ reason: 'fail_next' });
  });

  it('drops the connection for failNext status DROP_CONNECTION', async () => {
    fake = await new EchoFake().listen();
    fake.setFailurePlan({ failNext: { count: 1, status: DROP_CONNECTION } });

    await expect(post(fake.url, 'a')).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(fake.requests[0]?.status).toBe(DROP_CONNECTION);
    expect((await post(fake.url, 'a')).status).toBe(200);
  });

  it('applies serverErrorRate and rateLimitRate with the injected randomness', async () => {
    const samples = [0.1, 0.9, 0.1, 0.9, 0.9];
    fake = await new EchoFake({ random: () => samples.shift() ?? 0.9 }).listen();
    fake.setFailurePlan({
      serverErrorRate: 0.5,
      serverErrorStatus: 502,
      rateLimitRate: 0.5,
      retryAfterSeconds: 2,
    });

    const first = await post(fake.url, 'a'); // 0.1 < 0.5: server error
    const second = await post(fake.url, 'a'); // 0.9 no server error, 0.1 < 0.5: rate limited
    const third = await post(fake.url, 'a'); // 0.9, 0.9: healthy

    expect([first.status, second.status, third.status]).toEqual([502, 429, 200]);
    expect(second.headers['retry-after']).toBe('2');
  });

  it('waits a latency sampled from the plan', async () => {
    fake = await new EchoFake({
      random: () => 0.5,
      failurePlan: { latency: { minMs: 100, maxMs: 200 } },
    }).listen();

    const started = performance.now();
    await post(fake.url, 'a');

    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('lets the subclass apply recipientErrors', async () => {
    fake = await new EchoFake({ failurePlan: { recipientErrors: { bad: '21211' } } }).listen();

    const answer = await post(fake.url, 'bad');

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ code: '21211' });
  });

  it('reset() forgets requests and returns to the initial plan', async () => {
    fake = await new EchoFake({ failurePlan: { recipientErrors: { bad: '1' } } }).listen();
    fake.setFailurePlan({ failNext: { count: 5, status: 503 } });
    await post(fake.url, 'a');

    fake.reset();

    expect(fake.requests).toHaveLength(0);
    expect(fake.failurePlan).toEqual({ recipientErrors: { bad: '1' } });
    expect((await post(fake.url, 'a')).status).toBe(200);
  });

  it('keeps only the most recent records beyond maxRecordedRequests', async () => {
    fake = await new EchoFake({ maxRecordedRequests: 2 }).listen();

    for (const body of ['1', '2', '3']) await post(fake.url, body);

    expect(fake.requests.map((r) => r.body)).toEqual(['2', '3']);
  });

  it('rejects plans that make no sense', async () => {
    fake = await new EchoFake().listen();

    expect(() => fake.setFailurePlan({ serverErrorRate: 1.5 })).toThrow(/serverErrorRate/);
    expect(() => fake.setFailurePlan({ latency: { minMs: 10, maxMs: 1 } })).toThrow(/latency/);
    expect(() => fake.setFailurePlan({ failNext: { count: 1, status: 200 } })).toThrow(/failNext/);
    expect(() => fake.setFailurePlan({ serverErrorStatus: 404 })).toThrow(/serverErrorStatus/);
  });

  it('closes even while a client keeps its connection alive', async () => {
    fake = await new EchoFake().listen();
    await post(fake.url, 'a');

    await expect(fake.close()).resolves.toBeUndefined();
    await expect(fake.close()).resolves.toBeUndefined();
  });

  it('serves HTTPS with the given certificate', async () => {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    fake = await new EchoFake({ tls: { key: pems.private, cert: pems.cert } }).listen();
    expect(fake.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(fake.url, { method: 'POST', ca: pems.cert, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('secure');
    });

    expect(status).toBe(200);
    expect(fake.requests[0]?.body).toBe('secure');
  });

  it('says so when asked for its url before listening', () => {
    fake = new EchoFake();

    expect(() => fake.url).toThrow(/not listening/);
  });
});
