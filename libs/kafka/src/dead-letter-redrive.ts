import { randomUUID } from 'node:crypto';
import { DEAD_LETTER_HEADERS, REDRIVE_HEADERS } from '@omnigate/contracts';
import type { IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { KafkaPublisher } from './publisher';
import { withAdmin } from './topics';
import type { KafkaLogger, OutboundRecord } from './types';

/**
 * Re-drive of dead-lettered records: read the dead-letter topic up to where it ended when the
 * command started, select records, and re-publish their original key, value and headers.
 *
 * The pure parts (parsing selectors, selecting, planning, building the outbound record) are
 * separate from the two I/O functions at the bottom so they can be tested without a broker.
 */

/** Raised for an operator's bad input; the CLI prints the message and exits non-zero. */
export class RedriveInputError extends Error {
  override readonly name = 'RedriveInputError';
}

/** A record's place in a topic: partition and offset (a decimal string, as Kafka offsets are int64). */
export interface LogPosition {
  readonly partition: number;
  readonly offset: string;
}

/** `partition:offset`, the form operators type and the command prints. */
export function formatPosition(position: LogPosition): string {
  return `${position.partition}:${position.offset}`;
}

const PARTITION_PATTERN = /^\d{1,9}$/;
// int64 max has 19 digits; anything longer cannot be an offset.
const OFFSET_PATTERN = /^\d{1,19}$/;

function parsePartition(text: string, what: string): number {
  if (!PARTITION_PATTERN.test(text)) {
    throw new RedriveInputError(`${what}: "${text}" is not a partition number`);
  }
  return Number(text);
}

function parseOffset(text: string, what: string): bigint {
  if (!OFFSET_PATTERN.test(text))
    throw new RedriveInputError(`${what}: "${text}" is not an offset`);
  return BigInt(text);
}

/** Parses `partition:offset` (e.g. `0:17`). */
export function parsePosition(text: string): LogPosition {
  const match = /^([^:]*):([^:]*)$/.exec(text.trim());
  if (!match) {
    throw new RedriveInputError(`--position: "${text}" is not partition:offset (e.g. 0:17)`);
  }
  const partition = parsePartition(match[1] ?? '', '--position');
  // Normalised through BigInt so "0:007" and "0:7" name the same record.
  const offset = parseOffset(match[2] ?? '', '--position').toString();
  return { partition, offset };
}

/** An inclusive offset range; a missing end is open. */
export interface OffsetRange {
  readonly from: bigint | null;
  readonly to: bigint | null;
}

/** Parses `FROM-TO`, `FROM-`, `-TO` or a single `OFFSET` (all inclusive). */
export function parseOffsetRange(text: string): OffsetRange {
  const trimmed = text.trim();
  const match = /^(\d*)-(\d*)$/.exec(trimmed);
  if (!match) {
    const single = parseOffset(trimmed, '--source-offsets');
    return { from: single, to: single };
  }
  const from = match[1] ? parseOffset(match[1], '--source-offsets') : null;
  const to = match[2] ? parseOffset(match[2], '--source-offsets') : null;
  if (from === null && to === null) {
    throw new RedriveInputError('--source-offsets: give at least one end, e.g. 100-200 or 100-');
  }
  if (from !== null && to !== null && from > to) {
    throw new RedriveInputError(`--source-offsets: ${from} is after ${to}`);
  }
  return { from, to };
}

// An explicit offset is required: a bare date or a zone-less time would depend on the
// operator's machine, and a re-drive window that silently shifts by hours selects the wrong records.
const INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO 8601 date-time with a zone (`2025-01-31T12:00:00Z`, `…+01:00`). */
export function parseInstant(text: string, flag: string): Date {
  const trimmed = text.trim();
  const date = new Date(trimmed);
  if (!INSTANT_PATTERN.test(trimmed) || Number.isNaN(date.getTime())) {
    throw new RedriveInputError(
      `${flag}: "${text}" is not an ISO 8601 date-time with a zone (e.g. 2025-01-31T12:00:00Z)`,
    );
  }
  return date;
}

const REASON_CODE_PATTERN = /^[A-Z][A-Z0-9_]*$/;

/** Parses a reason code as the gateway writes them (UPPER_SNAKE, e.g. PAYLOAD_TOO_LARGE). */
export function parseReasonCode(text: string): string {
  const trimmed = text.trim();
  if (!REASON_CODE_PATTERN.test(trimmed)) {
    throw new RedriveInputError(
      `--reason: "${text}" is not a reason code (UPPER_SNAKE, e.g. PAYLOAD_TOO_LARGE)`,
    );
  }
  return trimmed;
}

/** Where a dead-lettered record was read from before it failed. */
export interface SourcePosition extends LogPosition {
  readonly topic: string;
}

/** A record read from the dead-letter topic, with its dead-letter headers decoded. */
export interface DeadLetterEntry {
  /** Position in the dead-letter topic. */
  readonly position: LogPosition;
  readonly key: string | null;
  readonly value: Buffer;
  /** Every header as read, dead-letter headers included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly reasonCode: string | null;
  /** Null when the source headers are missing or malformed. */
  readonly source: SourcePosition | null;
  /** Null when the header is missing or not a date-time. */
  readonly failedAt: Date | null;
  /** The re-drive header the original record carried, when it had been re-driven before. */
  readonly redrivenFrom: string | null;
}

/** A dead-letter record as read from Kafka, before its headers are interpreted. */
export interface RawDeadLetterRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** Interprets the dead-letter headers; never throws, because the topic may hold anything. */
export function toDeadLetterEntry(record: RawDeadLetterRecord): DeadLetterEntry {
  const h = record.headers;
  const sourceTopic = h[DEAD_LETTER_HEADERS.sourceTopic];
  const sourcePartition = h[DEAD_LETTER_HEADERS.sourcePartition];
  const sourceOffset = h[DEAD_LETTER_HEADERS.sourceOffset];
  const source =
    sourceTopic &&
    sourcePartition !== undefined &&
    PARTITION_PATTERN.test(sourcePartition) &&
    sourceOffset !== undefined &&
    OFFSET_PATTERN.test(sourceOffset)
      ? {
          topic: sourceTopic,
          partition: Number(sourcePartition),
          offset: BigInt(sourceOffset).toString(),
        }
      : null;
  const failedAtText = h[DEAD_LETTER_HEADERS.failedAt];
  const failedAt = failedAtText ? new Date(failedAtText) : null;
  return {
    position: { partition: record.partition, offset: record.offset },
    key: record.key,
    value: record.value ?? Buffer.alloc(0),
    headers: h,
    reasonCode: h[DEAD_LETTER_HEADERS.reasonCode] || null,
    source,
    failedAt: failedAt && !Number.isNaN(failedAt.getTime()) ? failedAt : null,
    redrivenFrom: h[REDRIVE_HEADERS.redrivenFrom] || null,
  };
}

/**
 * Which dead-letter records to re-drive. Criteria combine with AND; the values of one criterion
 * combine with OR; an empty set or null means "any".
 */
export interface RedriveSelection {
  /**
   * Only records that came from this topic. Always set: the dead-letter topic is shared with other
   * consumers (profile events), and re-publishing their records to the send topic would be wrong.
   */
  readonly sourceTopic: string;
  readonly reasonCodes: ReadonlySet<string>;
  readonly sourcePartitions: ReadonlySet<number>;
  readonly sourceOffsets: OffsetRange | null;
  /** Inclusive. */
  readonly failedFrom: Date | null;
  /** Exclusive, so consecutive windows never select a record twice. */
  readonly failedBefore: Date | null;
  /** Dead-letter positions as `partition:offset` (see formatPosition). */
  readonly positions: ReadonlySet<string>;
}

/** True when the selection narrows anything beyond the source topic. */
export function hasCriteria(selection: RedriveSelection): boolean {
  return (
    selection.reasonCodes.size > 0 ||
    selection.sourcePartitions.size > 0 ||
    selection.sourceOffsets !== null ||
    selection.failedFrom !== null ||
    selection.failedBefore !== null ||
    selection.positions.size > 0
  );
}

export type SelectionVerdict = 'selected' | 'other-source-topic' | 'not-matching';

export function judgeEntry(entry: DeadLetterEntry, selection: RedriveSelection): SelectionVerdict {
  // A record without readable source headers cannot be shown to come from the send topic.
  if (entry.source?.topic !== selection.sourceTopic) return 'other-source-topic';
  const source = entry.source;
  if (selection.reasonCodes.size > 0 && !selection.reasonCodes.has(entry.reasonCode ?? '')) {
    return 'not-matching';
  }
  if (selection.sourcePartitions.size > 0 && !selection.sourcePartitions.has(source.partition)) {
    return 'not-matching';
  }
  if (selection.sourceOffsets) {
    const offset = BigInt(source.offset);
    const { from, to } = selection.sourceOffsets;
    if ((from !== null && offset < from) || (to !== null && offset > to)) return 'not-matching';
  }
  if (selection.failedFrom || selection.failedBefore) {
    // No readable time cannot be shown to lie inside the window.
    if (!entry.failedAt) return 'not-matching';
    const at = entry.failedAt.getTime();
    if (selection.failedFrom && at < selection.failedFrom.getTime()) return 'not-matching';
    if (selection.failedBefore && at >= selection.failedBefore.getTime()) return 'not-matching';
  }
  if (selection.positions.size > 0 && !selection.positions.has(formatPosition(entry.position))) {
    return 'not-matching';
  }
  return 'selected';
}

/** A selected record the plan refuses to send because another selected record is the same one. */
export interface RefusedDuplicate {
  readonly entry: DeadLetterEntry;
  /** Dead-letter position of the record that is re-driven instead. */
  readonly duplicateOf: LogPosition;
}

export interface RedrivePlan {
  /** In dead-letter order (partition, then offset): the order to publish in. */
  readonly selected: readonly DeadLetterEntry[];
  readonly duplicates: readonly RefusedDuplicate[];
  readonly scanned: number;
  readonly otherSourceTopic: number;
  readonly notMatching: number;
  /** Counts of `selected` per reason code (`(none)` when the header is missing). */
  readonly countsByReason: ReadonlyMap<string, number>;
}

/** `topic:partition:offset`, the value of the re-drive header. */
export function redriveMarker(deadLetterTopic: string, position: LogPosition): string {
  return `${deadLetterTopic}:${formatPosition(position)}`;
}

function sourceIdentity(source: SourcePosition): string {
  return `source:${source.topic}:${formatPosition(source)}`;
}

function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.partition !== b.partition) return a.partition - b.partition;
  const diff = BigInt(a.offset) - BigInt(b.offset);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

/**
 * Selects the records to re-drive, and refuses any that would send the same original record twice
 * in this run. Two dead-letter records are the same original when
 *  - they sit at the same dead-letter position (a reader may see a record twice after a rebalance);
 *  - they came from the same source position (the gateway dead-lettered one record twice, e.g. it
 *    crashed after dead-lettering but before committing its offset); or
 *  - one is the dead-lettered copy of an earlier re-drive of the other (its re-drive header names
 *    the other's dead-letter position), transitively.
 * The first in dead-letter order is kept.
 */
export function planRedrive(
  entries: Iterable<DeadLetterEntry>,
  selection: RedriveSelection,
  deadLetterTopic: string,
): RedrivePlan {
  const unique = new Map<string, DeadLetterEntry>();
  for (const entry of entries) unique.set(formatPosition(entry.position), entry);
  const ordered = [...unique.values()].sort((a, b) => comparePositions(a.position, b.position));

  const byMarker = new Map(ordered.map((e) => [redriveMarker(deadLetterTopic, e.position), e]));
  const origins = new Map<string, string>();
  // The identity of the original record behind a dead-letter record: follow re-drive markers back
  // to the first dead-letter record still in the topic (partition order says nothing about which
  // came first, so this walks the chain rather than relying on reading order).
  const originOf = (entry: DeadLetterEntry): string => {
    const marker = redriveMarker(deadLetterTopic, entry.position);
    const known = origins.get(marker);
    if (known !== undefined) return known;
    const chain: string[] = [];
    let current: DeadLetterEntry = entry;
    let origin: string;
    for (;;) {
      const currentMarker = redriveMarker(deadLetterTopic, current.position);
      const cached = origins.get(currentMarker);
      // A cycle can only come from forged headers; stop there rather than loop.
      if (cached !== undefined || chain.includes(currentMarker)) {
        origin = cached ?? `dead-letter:${currentMarker}`;
        break;
      }
      chain.push(currentMarker);
      const parent = current.redrivenFrom ? byMarker.get(current.redrivenFrom) : undefined;
      if (parent) {
        current = parent;
        continue;
      }
      // A marker naming a record no longer in the topic still identifies the original.
      if (current.redrivenFrom) origin = `dead-letter:${current.redrivenFrom}`;
      else if (current.source) origin = sourceIdentity(current.source);
      else origin = `dead-letter:${currentMarker}`;
      break;
    }
    for (const link of chain) origins.set(link, origin);
    return origin;
  };

  const selected: DeadLetterEntry[] = [];
  const duplicates: RefusedDuplicate[] = [];
  const keptByIdentity = new Map<string, LogPosition>();
  const countsByReason = new Map<string, number>();
  let otherSourceTopic = 0;
  let notMatching = 0;
  for (const entry of ordered) {
    const verdict = judgeEntry(entry, selection);
    if (verdict === 'other-source-topic') otherSourceTopic += 1;
    if (verdict === 'not-matching') notMatching += 1;
    if (verdict !== 'selected') continue;
    const identities = [originOf(entry)];
    // The source position is an identity of its own too: two dead-letter records of one source
    // record must collapse even when only one of them carries a re-drive marker.
    if (entry.source) identities.push(sourceIdentity(entry.source));
    const keptAs = identities.map((id) => keptByIdentity.get(id)).find((p) => p !== undefined);
    if (keptAs) {
      duplicates.push({ entry, duplicateOf: keptAs });
      continue;
    }
    for (const id of identities) keptByIdentity.set(id, entry.position);
    selected.push(entry);
    const reason = entry.reasonCode ?? '(none)';
    countsByReason.set(reason, (countsByReason.get(reason) ?? 0) + 1);
  }
  return {
    selected,
    duplicates,
    scanned: ordered.length,
    otherSourceTopic,
    notMatching,
    countsByReason,
  };
}

/**
 * The record to publish: the original key, value and headers, without the dead-letter headers
 * (they describe a failure that the re-driven record has not had), plus the re-drive header.
 */
export function buildRedriveRecord(
  entry: DeadLetterEntry,
  deadLetterTopic: string,
): OutboundRecord {
  const deadLetterNames = new Set<string>(Object.values(DEAD_LETTER_HEADERS));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry.headers)) {
    if (!deadLetterNames.has(name)) headers[name] = value;
  }
  // Overwrites the marker of an earlier re-drive: the newest dead-letter position is the one to trace.
  headers[REDRIVE_HEADERS.redrivenFrom] = redriveMarker(deadLetterTopic, entry.position);
  return { key: entry.key, value: entry.value, headers };
}

/**
 * One line about a record for the operator. Shows positions, reason and time only: the key is
 * usually a customer id and the value may carry personal data, so neither is printed.
 */
export function describeEntry(entry: DeadLetterEntry): string {
  const source = entry.source
    ? `${entry.source.topic}:${formatPosition(entry.source)}`
    : '(unknown source)';
  const parts = [
    `dead-letter ${formatPosition(entry.position)}`,
    `reason ${entry.reasonCode ?? '(none)'}`,
    `source ${source}`,
    `failed-at ${entry.failedAt?.toISOString() ?? '(unknown)'}`,
  ];
  if (entry.redrivenFrom) parts.push(`earlier re-drive of ${entry.redrivenFrom}`);
  return parts.join('  ');
}

// ---------------------------------------------------------------------------------------------
// I/O

export interface DeadLetterSnapshot {
  /** End offsets (the next offset to be written) per partition when the read started. */
  readonly endOffsets: ReadonlyMap<number, string>;
  readonly entries: readonly DeadLetterEntry[];
}

export interface ReadDeadLetterOptions {
  /** Give up when the end offsets are not reached within this time. */
  readonly timeoutMs: number;
  readonly logger: KafkaLogger;
  /**
   * Entries for which this returns false are kept without their value (an empty Buffer), which
   * bounds memory on a large topic: planning needs every entry's headers (to follow re-drive
   * chains) but only the values of the records it will publish. Default: keep every value.
   */
  readonly retainValue?: (entry: DeadLetterEntry) => boolean;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map((v) => v.toString()).join(',') : value.toString();
  }
  return out;
}

function toRawRecord(partition: number, message: KafkaMessage): RawDeadLetterRecord {
  return {
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value,
    headers: headersToStrings(message.headers),
  };
}

/**
 * Reads the whole dead-letter topic up to the end offsets it had when this call started, so the
 * read terminates even while the gateway keeps dead-lettering.
 *
 * kafkajs has no manual partition assignment, so this uses a throwaway consumer group: a fresh
 * group id (no committed offsets, so `fromBeginning` starts at the earliest retained record),
 * `autoCommit: false` and no commit call, so nothing about this read is stored, and the group is
 * deleted afterwards. Being the group's only member it is assigned every partition.
 */
export async function readDeadLetterTopic(
  kafka: Kafka,
  topic: string,
  options: ReadDeadLetterOptions,
): Promise<DeadLetterSnapshot> {
  const offsets = await withAdmin(kafka, async (admin) => {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      throw new RedriveInputError(`dead-letter topic "${topic}" does not exist`);
    }
    return admin.fetchTopicOffsets(topic);
  });
  const endOffsets = new Map(offsets.map((o) => [o.partition, o.high]));
  // Partitions holding nothing below their end offset need no reading at all.
  const pending = new Map(
    offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]),
  );
  const entries = new Map<string, DeadLetterEntry>();
  const retainValue = options.retainValue ?? (() => true);
  if (pending.size === 0) return { endOffsets, entries: [] };

  const groupId = `omnigate-redrive-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  let finish: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // Handled by the await below; this only keeps a failure after an early throw from being unhandled.
  finished.catch(() => undefined);

  // Called with the last offset of every fetched batch, including batches of only control records
  // (which never reach eachBatch), so a partition ending in a transaction marker still completes.
  const progress = (partition: number, lastOffset: string): void => {
    const end = pending.get(partition);
    if (end === undefined || BigInt(lastOffset) < end - 1n) return;
    pending.delete(partition);
    consumer.pause([{ topic, partitions: [partition] }]);
    if (pending.size === 0) finish();
  };

  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    if (event.payload.topic === topic) progress(event.payload.partition, event.payload.lastOffset);
  });
  consumer.on(consumer.events.CRASH, (event) => {
    // kafkajs restarts the consumer itself after a retriable crash; the timeout bounds that.
    if (!event.payload.restart) {
      fail(new Error(`dead-letter reader crashed: ${event.payload.error.message}`));
    }
  });

  const timer = setTimeout(() => {
    const left = [...pending.keys()].join(', ');
    fail(
      new Error(
        `did not reach the end offsets of partition(s) ${left} within ${options.timeoutMs} ms`,
      ),
    );
  }, options.timeoutMs);
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        const end = endOffsets.get(batch.partition);
        if (end === undefined) return Promise.resolve();
        for (const message of batch.messages) {
          // Records written after the command started are not part of this run.
          if (BigInt(message.offset) >= BigInt(end)) break;
          const entry = toDeadLetterEntry(toRawRecord(batch.partition, message));
          // A copy, so a retained value does not pin the whole fetch response in memory.
          const value = retainValue(entry) ? Buffer.from(entry.value) : Buffer.alloc(0);
          // Keyed by position: a rebalance can hand the same records over again.
          entries.set(formatPosition(entry.position), { ...entry, value });
        }
        return Promise.resolve();
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch((error: unknown) => {
      options.logger.warn({ component: 'redrive', error: String(error) }, 'consumer disconnect');
    });
    await deleteGroup(kafka, groupId, options.logger);
  }
  return { endOffsets, entries: [...entries.values()] };
}

/** Best effort: a leftover empty group holds no offsets and expires on its own. */
async function deleteGroup(kafka: Kafka, groupId: string, logger: KafkaLogger): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (error: unknown) {
    logger.warn({ component: 'redrive', groupId, error: String(error) }, 'could not delete group');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Thrown when publishing stops part way; says how far it got so the operator can resume. */
export class RedrivePublishError extends Error {
  override readonly name = 'RedrivePublishError';
  constructor(
    readonly published: number,
    readonly firstUnpublished: LogPosition,
    cause: unknown,
  ) {
    super(
      `publishing failed after ${published} record(s); dead-letter ${formatPosition(firstUnpublished)} ` +
        `and the records after it were not confirmed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/**
 * Publishes the planned records in dead-letter order, in small batches, with acks from every
 * in-sync replica (KafkaPublisher always uses acks = all). Returns how many were published.
 * Refuses (throws) if a dead-letter position comes up twice, whatever the caller passed.
 */
export async function publishRedrive(
  publisher: KafkaPublisher,
  targetTopic: string,
  deadLetterTopic: string,
  entries: readonly DeadLetterEntry[],
  batchSize = 100,
): Promise<number> {
  const seen = new Set<string>();
  for (const entry of entries) {
    const position = formatPosition(entry.position);
    if (seen.has(position)) {
      throw new Error(`dead-letter ${position} is listed twice; refusing to re-drive it twice`);
    }
    seen.add(position);
  }
  let published = 0;
  for (let i = 0; i < entries.length; i += batchSize) {
    const batch = entries.slice(i, i + batchSize);
    const first = batch[0];
    if (!first) break;
    try {
      await publisher.publish(
        targetTopic,
        batch.map((entry) => buildRedriveRecord(entry, deadLetterTopic)),
      );
    } catch (error: unknown) {
      throw new RedrivePublishError(published, first.position, error);
    }
    published += batch.length;
  }
  return published;
}
