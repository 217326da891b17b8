import { SandboxSuite } from '@omnigate/sandbox';
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
): Promise<SandboxGateway> {
  const kafka = testKafka();
  const suite = await SandboxSuite.start();
  const topics = await createTestTopics(kafka, partitions);
  const gateway = await GatewayProcess.start(
    gatewayEnv(topics, { ...suite.gatewayEnvironment(), ...overrides }),
    name,
  );
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
