import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpTransport, MAX_ANSWER_BYTES, TransportError } from './http-transport';
import { rejectionOf } from '../../../../test/support/rejections';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** A local HTTP server whose answer each test chooses. */
async function serve(
  handler: Handler,
): Promise<{ url: URL; server: Server; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/v1/things?x=1`),
    server,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const failure = (promise: Promise<unknown>) => rejectionOf(promise, TransportError);

describe('HttpTransport', () => {
  const transport = new HttpTransport({ maxSockets: 2, idleTimeoutMs: 1_000 });

  it('sends method, path, query, headers and body, and answers status, headers and text', async () => {
    const seen: Array<{
      method?: string;
      url?: string;
      type?: string;
      length?: string;
      body: string;
    }> = [];
    const local = await serve((request, body, response) => {
      seen.push({
        method: request.method,
        url: request.url,
        type: request.headers['content-type'],
        length: request.headers['content-length'],
        body,
      });
      response.writeHead(201, { 'x-message-id': 'm-1', 'content-type': 'application/json' });
      response.end('{"sid":"SM1"}');
    });
    try {
      const answer = await transport.exchange({
        url: local.url,
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'To=%2B1415&Body=h%C3%A9',
        timeoutMs: 1_000,
      });

      expect(answer).toMatchObject({ status: 201, body: '{"sid":"SM1"}' });
      expect(answer.headers['x-message-id']).toBe('m-1');
      expect(seen).toEqual([
        {
          method: 'POST',
          url: '/v1/things?x=1',
          type: 'application/x-www-form-urlencoded',
          length: String(Buffer.byteLength('To=%2B1415&Body=h%C3%A9')),
          body: 'To=%2B1415&Body=h%C3%A9',
        },
      ]);
    } finally {
      await local.close();
    }
  });

  it('keeps connections alive and opens at most maxSockets of them', async () => {
    const sockets = new Set<unknown>();
    let inFlight = 0;
    let peak = 0;
    const local = await serve((request, _body, response) => {
      sockets.add(request.socket);
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        response.end('ok');
      }, 20);
    });
    try {
      const call = () =>
        transport.exchange({ url: local.url, method: 'GET', headers: {}, timeoutMs: 1_000 });
      await Promise.all(Array.from({ length: 6 }, call));
      await call();

      expect(sockets.size).toBe(2);
      expect(peak).toBe(2);
    } finally {
      await local.close();
    }
  });

  it('refused connection: ECONNREFUSED, with no request detail in the error', async () => {
    const local = await serve(() => undefined);
    const url = local.url;
    await local.close();

    const error = await failure(
      transport.exchange({
        url,
        method: 'POST',
        headers: { Authorization: 'Basic c2VjcmV0' },
        body: 'To=%2B14155550123',
        timeoutMs: 1_000,
      }),
    );

    expect(error.code).toBe('ECONNREFUSED');
    expect(JSON.stringify({ ...error, message: error.message })).not.toMatch(
      /c2VjcmV0|14155550123/,
    );
  });

  it('no complete answer in time: ETIMEDOUT, and the connection is dropped', async () => {
    let closed = false;
    const local = await serve((request) => {
      request.socket.on('close', () => (closed = true));
    });
    try {
      const error = await failure(
        transport.exchange({ url: local.url, method: 'GET', headers: {}, timeoutMs: 100 }),
      );

      expect(error.code).toBe('ETIMEDOUT');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed).toBe(true);
    } finally {
      await local.close();
    }
  });

  it('connection dropped after the request: ECONNRESET', async () => {
    const local = await serve((request) => request.socket.destroy());
    try {
      const error = await failure(
        transport.exchange({
          url: local.url,
          method: 'POST',
          headers: {},
          body: 'x',
          timeoutMs: 1_000,
        }),
      );

      expect(error.code).toBe('ECONNRESET');
    } finally {
      await local.close();
    }
  });

  it(`refuses an answer over ${MAX_ANSWER_BYTES} bytes`, async () => {
    const local = await serve((_request, _body, response) => {
      response.end(Buffer.alloc(MAX_ANSWER_BYTES + 1, 'a'));
    });
    try {
      const error = await failure(
        transport.exchange({ url: local.url, method: 'GET', headers: {}, timeoutMs: 2_000 }),
      );

      expect(error.code).toBe('ERR_ANSWER_TOO_LARGE');
    } finally {
      await local.close();
    }
  });
});

describe('HttpTransport, an answer cut off mid-body', () => {
  it('fails at once with ECONNRESET, not at the timeout', async () => {
    const transport = new HttpTransport({ maxSockets: 2, idleTimeoutMs: 1_000 });
    const local = await serve((request, _body, response) => {
      response.writeHead(200, { 'content-length': '100' });
      response.write('{"sid":');
      setTimeout(() => request.socket.destroy(), 20);
    });
    try {
      const startedAt = Date.now();
      const error = await failure(
        transport.exchange({ url: local.url, method: 'GET', headers: {}, timeoutMs: 5_000 }),
      );

      expect(error.code).toBe('ECONNRESET');
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      await local.close();
    }
  });
});
