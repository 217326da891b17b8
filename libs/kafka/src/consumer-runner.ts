import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { ContiguousOffsets } from './contiguous-offsets';
import { groupIntoKeyChains } from './key-chains';
import { Semaphore } from '@omnigate/common';
import type {
  InboundRecord,
  KafkaLogger,
  OutagePolicy,
  PoisonRecordPolicy,
  RecordHandler,
} from './types';

export interface ConsumerRunnerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Handlers running at once across all partitions. */
  readonly concurrency: number;
  /** Partitions whose batches are processed at the same time. */
  readonly partitionsConsumedConcurrently: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /**
   * Failed batches in a row on one partition after which the consumer gives up and the process
   * must exit (each batch is itself retried by the client before it counts as failed).
   */
  readonly maxConsecutiveFailures: number;
  /** Where a new group starts reading. */
  readonly fromBeginning: boolean;
  /** Commit finished work at least this often, and after this many finished records, mid-batch. */
  readonly commitIntervalMs: number;
  readonly commitThreshold: number;
  /** During a shutdown drain, stop starting gap-filling records after this long. */
  readonly drainBudgetMs?: number;
  /** Without one, every handler error fails the batch (and is retried with it). */
  readonly poison?: PoisonRecordPolicy;
  /**
   * With a poison policy: pause and wait out a dependency outage instead of failing the batch.
   * Without one, a dependency failure fails the batch (retried by the client, counted above).
   */
  readonly outage?: OutagePolicy;
}

/** Pause between in-place attempts at a failing record: 100 ms, 200 ms, 400 ms… at most 2 s. */
const POISON_RETRY_BASE_MS = 100;
const POISON_RETRY_MAX_MS = 2000;

export type ConsumerState =
  | 'idle'
  | 'starting'
  | 'joined'
  | 'rebalancing'
  /** Waiting out a dependency outage: its topics are paused, the records in hand wait. */
  | 'paused'
  | 'stopping'
  | 'stopped'
  | 'crashed';

/**
 * Runs a Kafka consumer on eachBatch with ordering per key and bounded concurrency across keys.
 * It commits only the highest contiguous finished offset, so a crash redoes unfinished work and
 * never skips it. A crash the client will not restart from is reported through `onFatal`; the
 * service exits non-zero so the orchestrator restarts it.
 */
export class ConsumerRunner {
  private readonly consumer: Consumer;
  private readonly slots: Semaphore;
  /** Failed batches in a row per partition; a partition that makes progress starts again at 0. */
  private readonly failuresByPartition = new Map<string, number>();
  private currentState: ConsumerState = 'idle';
  private processed = 0;
  /** The outage being waited out, shared by every record that ran into it. */
  private outage: Promise<void> | undefined;
  /** When records stopped getting through because of dependency failures; cleared by a success. */
  private failingSince: number | undefined;

  constructor(
    kafka: Kafka,
    private readonly options: ConsumerRunnerOptions,
    private readonly handler: RecordHandler,
    private readonly logger: KafkaLogger,
    private readonly onFatal: (error: Error) => void,
  ) {
    this.slots = new Semaphore(options.concurrency);
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      allowAutoTopicCreation: false,
      // Short fetch long-polls keep shutdown quick: disconnect waits for the fetch in flight.
      maxWaitTimeInMs: 1000,
      retry: {
        retries: 5,
        restartOnFailure: (error: Error) => Promise.resolve(this.shouldRestart(error)),
      },
    });
    this.watchLifecycle();
  }

  get state(): ConsumerState {
    return this.currentState;
  }

  /** True once the consumer is a member of its group and has partitions assigned. */
  get isReady(): boolean {
    return this.currentState === 'joined';
  }

  get processedCount(): number {
    return this.processed;
  }

  async start(): Promise<void> {
    this.currentState = 'starting';
    await this.consumer.connect();
    for (const topic of this.options.topics) {
      await this.consumer.subscribe({ topic, fromBeginning: this.options.fromBeginning });
    }
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: this.options.commitIntervalMs,
      autoCommitThreshold: this.options.commitThreshold,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.processBatch(payload),
    });
  }

  /**
   * Stops taking new records, lets the in-flight ones finish, commits their offsets and leaves the
   * group. Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (this.currentState === 'stopped' || this.currentState === 'stopping') return;
    this.currentState = 'stopping';
    await this.consumer.disconnect();
    this.currentState = 'stopped';
  }

  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const resolveOffset = (offset: string): void => payload.resolveOffset(offset);
    const heartbeat = (): Promise<void> => payload.heartbeat();
    const isRunning = (): boolean => payload.isRunning();
    const isStale = (): boolean => payload.isStale();
    const offsets = new ContiguousOffsets(batch.messages.map((m) => m.offset));
    const chains = groupIntoKeyChains(batch.messages, (m) => m.key?.toString('utf8') ?? null);
    let failure: Error | undefined;
    // A failed heartbeat usually means the group is rebalancing: finish what is in flight, start
    // nothing new, and hand the error back to the client so it rejoins.
    let interruption: Error | undefined;
    // While running, any record may start. While draining for shutdown, only records below the
    // highest finished offset may: they fill the gaps so that everything finished gets committed
    // and a restart redoes nothing. After a failure or a rebalance, nothing new starts.
    let drainStartedAt: number | undefined;
    const mayStart = (offset: string): boolean => {
      if (failure !== undefined || interruption !== undefined || isStale()) return false;
      if (isRunning()) return true;
      drainStartedAt ??= Date.now();
      const withinBudget = Date.now() - drainStartedAt < (this.options.drainBudgetMs ?? Infinity);
      return withinBudget && offsets.isGapBelowFinished(offset);
    };

    // Mid-batch commits bound how much finished work a crash redoes. One at a time: a commit that
    // is still running already carries an offset at least as old as the next one would.
    let commitInFlight: Promise<void> | undefined;
    const commitIfDue = (): void => {
      if (commitInFlight) return;
      commitInFlight = payload
        .commitOffsetsIfNecessary()
        .catch((error: unknown) => {
          interruption ??= error instanceof Error ? error : new Error(String(error));
        })
        .finally(() => (commitInFlight = undefined));
    };

    // While draining for shutdown the member is leaving anyway and heartbeats may fail; that must
    // not stop the gap filling, or finished records above a gap would go uncommitted.
    const onHeartbeatError = (error: unknown): void => {
      if (!isRunning()) return;
      interruption ??= error instanceof Error ? error : new Error(String(error));
    };

    // Each chain remembers where it stopped, so the drain can resume it (see below).
    const runChain = async (chain: { messages: KafkaMessage[]; next: number }): Promise<void> => {
      for (; chain.next < chain.messages.length; chain.next += 1) {
        const message = chain.messages[chain.next]!;
        if (!mayStart(message.offset)) return;
        await this.slots.acquire();
        try {
          // Re-check after waiting for a slot: shutdown or a rebalance may have begun meanwhile.
          if (!mayStart(message.offset)) return;
          await this.handleRecord(
            toInboundRecord(batch.topic, batch.partition, message),
            () => isRunning() && !isStale(),
          );
        } catch (error) {
          failure ??= error instanceof Error ? error : new Error(String(error));
          return; // later records of this key must wait: their order depends on this one
        } finally {
          this.slots.release();
        }
        this.processed += 1;
        const commitPoint = offsets.markDone(message.offset);
        if (commitPoint !== undefined) {
          resolveOffset(commitPoint);
          commitIfDue();
        }
        await heartbeat().catch(onHeartbeatError);
      }
    };

    // Heartbeat on a timer too: with every slot waiting on a slow provider no record finishes, and
    // the group would otherwise evict this member and hand its records to another one mid-flight.
    const heartbeatTimer = setInterval(() => {
      heartbeat().catch(onHeartbeatError);
    }, this.options.heartbeatIntervalMs);
    const chainStates = chains.map((messages) => ({ messages, next: 0 }));
    try {
      await Promise.all(chainStates.map(runChain));
      // A chain that stopped at shutdown because its record was not yet below anything finished
      // may have become a gap since, as the records in flight finished: resume those until none is.
      for (;;) {
        const resumable = chainStates.filter(
          (chain) =>
            chain.next < chain.messages.length && mayStart(chain.messages[chain.next]!.offset),
        );
        if (resumable.length === 0 || isRunning()) break;
        await Promise.all(resumable.map(runChain));
      }
    } finally {
      clearInterval(heartbeatTimer);
    }
    await commitInFlight;

    const partitionKey = `${batch.topic}/${batch.partition}`;
    if (failure) {
      // Log before committing: the commit may fail during a rebalance and must not hide this.
      this.failuresByPartition.set(
        partitionKey,
        (this.failuresByPartition.get(partitionKey) ?? 0) + 1,
      );
      this.logger.error(
        {
          topic: batch.topic,
          partition: batch.partition,
          committedUpTo: offsets.commitPoint ?? null,
          consecutiveFailures: this.failuresByPartition.get(partitionKey),
          error: failure.message,
        },
        'record handler failed; the batch will be retried from the first unfinished record',
      );
    }
    await payload.commitOffsetsIfNecessary();
    if (failure) throw failure;
    if (interruption) throw interruption;
    if (offsets.finishedCount > 0) this.failuresByPartition.delete(partitionKey);
  }

  /**
   * Runs the handler; with a poison policy, retries a record-level failure in place (the key's
   * later records wait, so order holds) and sets the record aside once the attempts or the time
   * are spent. A dependency failure is waited out with an outage policy (the record runs again
   * when the dependencies answer) and propagates without one, as does a failed set-aside: the
   * batch then fails. `stillWanted` turns false at shutdown or a rebalance: a record waiting out
   * an outage then gives up its place, unfinished and uncommitted.
   */
  private async handleRecord(record: InboundRecord, stillWanted: () => boolean): Promise<void> {
    const policy = this.options.poison;
    if (!policy) return this.handler(record);
    let startedAt = Date.now();
    for (let attempt = 1; ;) {
      try {
        await this.handler(record);
        this.failingSince = undefined;
        return;
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        if (policy.isDependencyFailure(error)) {
          if (!this.options.outage) throw failure;
          await this.waitOutOutage(failure, stillWanted);
          // Not the record's fault: the try does not count, and its clock starts again.
          startedAt = Date.now();
          continue;
        }
        const elapsedMs = Date.now() - startedAt;
        const position = {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
        };
        if (attempt >= policy.maxAttempts || elapsedMs >= policy.giveUpAfterMs) {
          this.logger.error(
            { ...position, attempts: attempt, elapsedMs, errorName: failure.name },
            'record handler kept failing; setting the record aside',
          );
          await policy.setAside(record, { attempts: attempt, elapsedMs, error: failure });
          return;
        }
        this.logger.warn(
          { ...position, attempt, errorName: failure.name, error: failure.message },
          'record handler failed; trying the record again',
        );
        const pauseMs = Math.min(POISON_RETRY_MAX_MS, POISON_RETRY_BASE_MS * 2 ** (attempt - 1));
        await sleep(pauseMs);
        attempt += 1;
      }
    }
  }

  /**
   * Joins (or starts) the wait for the dependencies, checking every 250 ms whether this record is
   * still wanted. Resolves when they answer; throws `failure` when the record is no longer wanted,
   * and the give-up error when the outage lasted too long.
   */
  private async waitOutOutage(failure: Error, stillWanted: () => boolean): Promise<void> {
    this.failingSince ??= Date.now();
    this.outage ??= this.pauseUntilDependenciesAnswer(failure).finally(
      () => (this.outage = undefined),
    );
    const outage = this.outage;
    let over = false;
    void outage.then(
      () => (over = true),
      () => (over = true),
    );
    while (!over) {
      if (!stillWanted()) throw failure;
      await Promise.race([outage.catch(() => undefined), sleep(250)]);
    }
    await outage;
    if (!stillWanted()) throw failure;
  }

  private async pauseUntilDependenciesAnswer(failure: Error): Promise<void> {
    const policy = this.options.outage!;
    const since = this.failingSince ?? Date.now();
    const topics = this.options.topics.map((topic) => ({ topic }));
    this.logger.error(
      { errorName: failure.name, error: failure.message, probeIntervalMs: policy.probeIntervalMs },
      'a dependency is unreachable; pausing consumption until it answers',
    );
    if (this.currentState === 'joined') this.currentState = 'paused';
    this.consumer.pause(topics);
    try {
      for (;;) {
        await sleep(policy.probeIntervalMs);
        if (this.currentState === 'stopping' || this.currentState === 'stopped') return;
        const failingMs = Date.now() - since;
        if (failingMs >= policy.giveUpAfterMs) {
          const fatal = new Error(
            `no record got through for ${failingMs} ms because a dependency is unreachable ` +
              `(${failure.message}); giving up after ${policy.giveUpAfterMs} ms`,
            { cause: failure },
          );
          this.logger.error({ failingMs }, 'dependency outage too long; giving up');
          this.currentState = 'crashed';
          this.onFatal(fatal);
          throw fatal;
        }
        if (await policy.probe().catch(() => false)) break;
      }
    } finally {
      if (this.currentState === 'paused') this.currentState = 'joined';
      if (this.currentState !== 'crashed') this.consumer.resume(topics);
    }
    this.logger.info(
      { pausedMs: Date.now() - since },
      'dependencies answer again; resuming consumption',
    );
  }

  private shouldRestart(error: Error): boolean {
    const worst = Math.max(0, ...this.failuresByPartition.values());
    const restart = worst <= this.options.maxConsecutiveFailures;
    this.logger.warn(
      { error: error.message, consecutiveFailures: worst, restart },
      restart ? 'consumer failed; restarting' : 'consumer failed too often; giving up',
    );
    return restart;
  }

  private watchLifecycle(): void {
    const { GROUP_JOIN, REBALANCING, CRASH, STOP } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (event) => {
      this.currentState = 'joined';
      this.logger.info(
        {
          groupId: event.payload.groupId,
          memberId: event.payload.memberId,
          assignment: event.payload.memberAssignment,
        },
        'consumer joined its group',
      );
    });
    this.consumer.on(REBALANCING, () => {
      if (this.currentState === 'joined') this.currentState = 'rebalancing';
    });
    this.consumer.on(STOP, () => {
      if (this.currentState !== 'crashed') this.currentState = 'stopped';
    });
    this.consumer.on(CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart) {
        this.currentState = 'rebalancing';
        return;
      }
      this.currentState = 'crashed';
      this.onFatal(error);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function headerToString(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((v) => v.toString()).join(',');
  return value.toString();
}

function toInboundRecord(topic: string, partition: number, message: KafkaMessage): InboundRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const text = headerToString(value);
    if (text !== undefined) headers[name] = text;
  }
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value,
    headers,
    timestamp: message.timestamp,
  };
}
