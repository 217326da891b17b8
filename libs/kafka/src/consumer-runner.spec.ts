import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ConsumerRunner, type ConsumerRunnerOptions } from './consumer-runner';
import type { KafkaLogger, OutagePolicy, PoisonRecordPolicy } from './types';

// The runner against a stand-in for the kafkajs consumer: these cases are about what the runner
// does between the client's calls (pause, probe, resume, give up), which a real broker cannot
// stage on cue. Ordering, commits and rebalances are covered against the real broker in test/.

const TOPIC = 'omnigate.send.v1';

/** A dependency outage as the drivers report one (see src/repositories/dependency-failure.ts). */
const outageError = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });

function fakeConsumer() {
  let eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join', REBALANCING: 'rebalancing', CRASH: 'crash', STOP: 'stop' },
    on: jest.fn(),
    connect: jest.fn(() => Promise.resolve()),
    subscribe: jest.fn(() => Promise.resolve()),
    run: jest.fn((config: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) => {
      eachBatch = config.eachBatch;
      return Promise.resolve();
    }),
    pause: jest.fn(),
    resume: jest.fn(),
    disconnect: jest.fn(() => Promise.resolve()),
  };
  const kafka = { consumer: () => consumer } as unknown as Kafka;
  return {
    kafka,
    consumer,
    runBatch: (payload: EachBatchPayload): Promise<void> => {
      if (!eachBatch) throw new Error('the runner has not started');
      return eachBatch(payload);
    },
  };
}

function batchOf(offsets: string[], running: { value: boolean } = { value: true }) {
  const resolved: string[] = [];
  const messages = offsets.map(
    (offset) =>
      ({
        offset,
        key: Buffer.from('cust-1'),
        value: Buffer.from('{}'),
        headers: {},
        timestamp: '0',
      }) as unknown as KafkaMessage,
  );
  const payload = {
    batch: { topic: TOPIC, partition: 0, messages },
    resolveOffset: (offset: string) => resolved.push(offset),
    heartbeat: () => Promise.resolve(),
    isRunning: () => running.value,
    isStale: () => false,
    commitOffsetsIfNecessary: () => Promise.resolve(),
  } as unknown as EachBatchPayload;
  return { payload, resolved };
}

const silentLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function options(outage?: OutagePolicy): ConsumerRunnerOptions {
  const poison: PoisonRecordPolicy = {
    maxAttempts: 3,
    giveUpAfterMs: 10_000,
    isDependencyFailure: (error) =>
      typeof error === 'object' &&
      error !== null &&
      'code' in error &&
      error.code === 'ECONNREFUSED',
    setAside: () => Promise.resolve(),
  };
  return {
    groupId: 'g',
    topics: [TOPIC],
    concurrency: 4,
    partitionsConsumedConcurrently: 1,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    maxConsecutiveFailures: 5,
    fromBeginning: true,
    commitIntervalMs: 1_000,
    commitThreshold: 100,
    poison,
    ...(outage && { outage }),
  };
}

async function startedRunner(
  handler: () => Promise<void>,
  outage: OutagePolicy | undefined,
  onFatal: (error: Error) => void = () => undefined,
) {
  const fake = fakeConsumer();
  const runner = new ConsumerRunner(fake.kafka, options(outage), handler, silentLogger, onFatal);
  await runner.start();
  return { ...fake, runner };
}

describe('ConsumerRunner during a dependency outage', () => {
  it('pauses its topics, probes until the dependency answers, resumes and redoes the record', async () => {
    let failuresLeft = 2;
    const handler = jest.fn(() => {
      if (failuresLeft === 0) return Promise.resolve();
      failuresLeft -= 1;
      return Promise.reject(outageError());
    });
    const answers = [false, false, true];
    const probe = jest.fn(() => Promise.resolve(answers.shift() ?? true));
    const { runner, consumer, runBatch } = await startedRunner(handler, {
      probe,
      probeIntervalMs: 20,
      giveUpAfterMs: 60_000,
    });
    const { payload, resolved } = batchOf(['0', '1']);
    (runner as unknown as { currentState: string }).currentState = 'joined';

    const states: string[] = [];
    const watch = setInterval(() => states.push(runner.state), 5);
    await runBatch(payload);
    clearInterval(watch);

    expect(consumer.pause).toHaveBeenCalledWith([{ topic: TOPIC }]);
    expect(consumer.resume).toHaveBeenCalledWith([{ topic: TOPIC }]);
    expect(probe.mock.calls.length).toBeGreaterThanOrEqual(3);
    // Both outage failures were the first record's; then it and the second went through.
    expect(handler).toHaveBeenCalledTimes(4);
    expect(resolved).toEqual(['0', '1']);
    expect(states).toContain('paused');
    expect(runner.state).toBe('joined');
    expect(runner.isReady).toBe(true);
  });

  it('gives up through onFatal once no record got through for giveUpAfterMs, committing nothing', async () => {
    const onFatal = jest.fn<void, [Error]>();
    const { runner, consumer, runBatch } = await startedRunner(
      () => Promise.reject(outageError()),
      { probe: () => Promise.resolve(false), probeIntervalMs: 20, giveUpAfterMs: 100 },
      onFatal,
    );
    const { payload, resolved } = batchOf(['0']);

    await expect(runBatch(payload)).rejects.toThrow(/giving up after 100 ms/);
    expect(onFatal).toHaveBeenCalledTimes(1);
    expect(onFatal.mock.calls[0]![0].message).toMatch(/ECONNREFUSED.*giving up/);
    expect(runner.state).toBe('crashed');
    expect(resolved).toEqual([]);
    expect(consumer.resume).not.toHaveBeenCalled();
  });

  it('lets a waiting record go, unfinished, when the consumer stops', async () => {
    const running = { value: true };
    const handler = jest.fn(() => Promise.reject(outageError()));
    const { runner, runBatch } = await startedRunner(handler, {
      probe: () => Promise.resolve(false),
      probeIntervalMs: 20,
      giveUpAfterMs: 60_000,
    });
    const { payload, resolved } = batchOf(['0'], running);

    const done = runBatch(payload);
    // As kafkajs does on disconnect: the batch is no longer running.
    setTimeout(() => {
      running.value = false;
      void runner.stop();
    }, 100);
    await expect(done).rejects.toThrow(/ECONNREFUSED/);
    expect(handler).toHaveBeenCalledTimes(1);
    expect(resolved).toEqual([]);
  });

  it('without an outage policy fails the batch at the first dependency failure', async () => {
    const handler = jest.fn(() => Promise.reject(outageError()));
    const { consumer, runBatch } = await startedRunner(handler, undefined);
    const { payload } = batchOf(['0']);

    await expect(runBatch(payload)).rejects.toThrow(/ECONNREFUSED/);
    expect(handler).toHaveBeenCalledTimes(1);
    expect(consumer.pause).not.toHaveBeenCalled();
  });
});
