import { createServer, type AddressInfo, type Server } from 'node:net';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { sendCommand } from './support/commands';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';

/** A TCP listener that only counts who connects: the gateway must never be one of them. */
interface Watch {
  readonly server: Server;
  readonly port: number;
  connections: number;
}

async function watch(port: number): Promise<Watch> {
  const counter = { connections: 0 };
  const server = createServer((socket) => {
    counter.connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return Object.assign(counter, { server, port: (server.address() as AddressInfo).port });
}

/**
 * Web push endpoints that point into the gateway's own network never get a connection: the
 * url.parse bypass and http:// are refused at intake, a host resolving to loopback at connect
 * time; the web push breaker stays closed because these are faults of the message.
 */
describe('outbound URL safety for web push', () => {
  const kafka = testKafka();
  let suite: SandboxSuite;
  let topics: TestTopics;
  let receipts: TopicReader;
  let gateway: GatewayProcess;
  let local: Watch;
  // Where web-push's url.parse would send the bypass: 127.0.0.1:443. Binding it needs root or
  // CAP_NET_BIND_SERVICE; without them the bypass is still asserted refused at intake.
  let https443: Watch | undefined;

  beforeAll(async () => {
    local = await watch(0);
    https443 = await watch(443).catch(() => undefined);
    suite = await SandboxSuite.start();
    topics = await createTestTopics(kafka, 1);
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        PROVIDERS_WEBPUSH: 'webpush',
        PROVIDER_WEBPUSH_ALLOWED_HOSTS: 'localhost,.push.apple.com',
        // Some non-public range is allowed (so endpoints may name a port), but not loopback.
        PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: '192.0.2.0/24',
        // One counted failure would open the breaker.
        BREAKER_VOLUME_THRESHOLD: '1',
        BREAKER_ERROR_THRESHOLD_PERCENT: '1',
      }),
      'outbound-url-safety',
    );
    receipts = await new TopicReader(kafka, topics.receipts).start();
  });

  afterAll(async () => {
    await gateway?.stop();
    await receipts?.stop();
    await suite?.close();
    for (const watched of [local, https443]) {
      await new Promise((resolve) => watched?.server.close(resolve));
    }
  });

  async function receiptFor(endpoint: string): Promise<DeliveryReceipt> {
    const { subscription } = suite.newWebPushSubscription();
    const command = sendCommand({
      channels: ['webpush'],
      recipient: { webPushSubscriptions: [{ ...subscription, endpoint }] },
      content: { webpush: { title: 'Order shipped', body: 'On its way' } },
    });
    const id = String(command.id);
    await publish(kafka, topics.send, [
      { key: String(command.customerId), value: JSON.stringify(command) },
    ]);
    const find = () =>
      receipts.records
        .map((r) => JSON.parse(r.value) as DeliveryReceipt)
        .find((r) => r.messageId === id);
    await receipts.waitFor(() => find() !== undefined, 30000, `the receipt of ${id}`);
    return find()!;
  }

  it('refuses the url.parse bypass at intake, in words, without connecting', async () => {
    const receipt = await receiptFor('https://127.0.0.1;.push.apple.com/x');
    expect(receipt).toMatchObject({ status: 'rejected' });
    expect(receipt.reason?.message).toContain('lowercase DNS name');
    expect(https443?.connections ?? 0).toBe(0);
  });

  it('refuses an http:// endpoint at intake without connecting', async () => {
    const receipt = await receiptFor(`http://localhost:${local.port}/push/x`);
    expect(receipt).toMatchObject({ status: 'rejected' });
    expect(receipt.reason?.message).toContain('must be an https:// URL');
    expect(local.connections).toBe(0);
  });

  it('refuses a host that resolves to loopback before connecting; the breaker stays closed', async () => {
    const endpoint = `https://localhost:${local.port}/push/x`;
    for (const receipt of [await receiptFor(endpoint), await receiptFor(endpoint)]) {
      expect(receipt).toMatchObject({ status: 'failed' });
      const step = receipt.trace.find((t) => t.channel === 'webpush' && t.decision === 'failed');
      expect(step?.detail).toContain('the push service host resolves only to loopback addresses');
      expect(JSON.stringify(receipt)).not.toContain(`localhost:${local.port}`);
    }
    expect(local.connections).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
    expect(metrics).toMatch(/omnigate_breaker_state\{channel="webpush",provider="webpush"\} 0/);
  });
});
