import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the receiver got, as the gateway's endpoint would see it. */
export interface ReceivedWebhook {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A local HTTP server standing in for the gateway's webhook endpoints in the sandbox's specs: it
 * records each request and answers with the next scripted status (then `defaultStatus`).
 */
export class RecordingReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly server: Server;
  private readonly script: number[] = [];

  constructor(
    private readonly defaultStatus = 204,
    private readonly answerBody = '',
  ) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        this.received.push({
          method: request.method ?? '',
          url: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response.writeHead(this.script.shift() ?? this.defaultStatus);
        response.end(this.answerBody);
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next requests get these statuses, in order. */
  answerNext(...statuses: number[]): void {
    this.script.push(...statuses);
  }

  clear(): void {
    this.received.length = 0;
    this.script.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
