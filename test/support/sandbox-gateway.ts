import { SandboxSuite, type SandboxSuiteOptions } from '@omnigate/sandbox';
import { gatewayEnv } from './env';
import { GatewayProcess } from './gateway';
import { createTestTopics, testKafka, TopicReader, type TestTopics } from './kafka';

/** A gateway process sending through the provider sandbox, with its own topics and a receipts reader. */
export interface SandboxGateway {
  readonly suite: SandboxSuite;
  readonly topics: TestTopics;
  readonly receipts: TopicReader;
  stop(): Promise<void>;
}

export async function startSandboxGateway(
  name: string,
  partitions: number,
  overrides: Record<string, string> = {},
  /** `webhooks` makes the fakes call the gateway back (status callbacks, event batches, acks). */
  sandbox: SandboxSuiteOptions = {},
): Promise<SandboxGateway> {
  const kafka = testKafka();
  const suite = await SandboxSuite.start(sandbox);
  const topics = await createTestTopics(kafka, partitions);
  const gateway = await GatewayProcess.start(
    gatewayEnv(topics, { ...suite.gatewayEnvironment(), ...overrides }),
    name,
  );
  // The sandbox plays the ingress: the public base URL reaches this gateway's port.
  if (sandbox.webhooks) suite.routeWebhooksTo(`http://127.0.0.1:${gateway.port}`);
  const receipts = await new TopicReader(kafka, topics.receipts).start();
  return {
    suite,
    topics,
    receipts,
    stop: async () => {
      await gateway.stop();
      await receipts.stop();
      await suite.close();
    },
  };
}
