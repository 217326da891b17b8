/**
 * `npm run redrive -- <flags>`: re-publishes selected dead-letter records to the send topic after
 * the cause of their failure was fixed. A dry run unless --execute is given. See USAGE below.
 *
 * Imports are relative so the compiled script needs no path-alias rewriting.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_TOPICS } from '../libs/contracts/src';
import { kafkaSecurityFromEnvironment, type KafkaSecurity } from '../src/config/kafka-security';
import {
  KafkaPublisher,
  RedriveInputError,
  createKafkaClient,
  describeEntry,
  formatPosition,
  hasCriteria,
  judgeEntry,
  parseInstant,
  parseOffsetRange,
  parsePosition,
  parseReasonCode,
  planRedrive,
  publishRedrive,
  readDeadLetterTopic,
  type KafkaLogger,
  type RedriveSelection,
} from '../libs/kafka/src';

const USAGE = `Usage: npm run redrive -- [selection] [options] [--execute]

Reads the dead-letter topic from the beginning up to its end offsets as they were when the command
started, selects records, and prints what would be re-driven: counts per reason code and one line
per record (dead-letter position, reason code, source position; never the key or value).
With --execute it re-publishes each selected record's original key, value and headers (dead-letter
headers removed, header omnigate.redrive.from added) to the send topic with acks=all.

Selection (flags combine with AND; a comma list or a repeated flag means any of them):
  --reason CODE[,CODE]          reason code, e.g. PAYLOAD_TOO_LARGE, SCHEMA_VIOLATION
  --source-partition N[,N]      partition of the source topic the record was read from
  --source-offsets RANGE        inclusive source offsets: FROM-TO, FROM-, -TO or one offset
                                (needs --source-partition)
  --failed-from TIME            dead-lettered at or after TIME (ISO 8601 with zone)
  --failed-before TIME          dead-lettered before TIME
  --position P:O[,P:O]          dead-letter partition:offset
  --all                         select everything (required for --execute without a selector)

Topics and connection:
  --to TOPIC                    topic to publish to (default: $TOPIC_SEND or ${DEFAULT_TOPICS.send})
  --source-topic TOPIC          only records that came from TOPIC (default: the --to topic);
                                records from other topics (e.g. profile events) are never selected
  --from TOPIC                  dead-letter topic (default: $TOPIC_DEAD_LETTER or ${DEFAULT_TOPICS.deadLetter})
  --brokers HOST:PORT[,...]     default: $KAFKA_BROKERS
  --timeout-seconds N           give up if the end offsets are not reached in N s (default 60)

  --execute                     publish; without it nothing is written anywhere
  -h, --help                    print this help

One run never publishes one original record twice (same dead-letter record, same source record, or
an earlier re-drive of it). Running the command twice does publish twice; the gateway's intake
is what de-duplicates on the command id, so narrow a repeat run with --position.

Example:
  npm run redrive -- --reason PAYLOAD_TOO_LARGE --failed-from 2025-03-01T00:00:00Z
  npm run redrive -- --reason PAYLOAD_TOO_LARGE --failed-from 2025-03-01T00:00:00Z --execute
`;

/** Exit codes: 0 done, 1 the run failed (broker, publish), 2 bad arguments. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface RedriveArgs {
  readonly brokers: readonly string[];
  /** TLS and SASL from the gateway's own variables (KAFKA_TLS, KAFKA_SASL_*). */
  readonly security: KafkaSecurity;
  readonly deadLetterTopic: string;
  readonly targetTopic: string;
  readonly selection: RedriveSelection;
  readonly execute: boolean;
  readonly timeoutMs: number;
}

const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER_PATTERN = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/;

function topic(value: string, source: string): string {
  const trimmed = value.trim();
  if (!TOPIC_PATTERN.test(trimmed)) {
    throw new RedriveInputError(`${source}: "${value}" is not a Kafka topic name`);
  }
  return trimmed;
}

/** Flattens repeated flags and comma lists; an empty item is a typo, not "any". */
function listValues(values: readonly string[] | undefined, flag: string): string[] {
  const items = (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
  if (items.some((v) => v.length === 0)) throw new RedriveInputError(`${flag}: empty value`);
  return items;
}

function single(values: readonly string[] | undefined, flag: string): string | undefined {
  if (values && values.length > 1) throw new RedriveInputError(`${flag} may be given only once`);
  return values?.[0];
}

function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): RedriveArgs | 'help' {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error: unknown) {
    // parseArgs's own messages name the flag ("Unknown option '--reasn'").
    throw new RedriveInputError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  if (v.help) return 'help';

  const brokersText = single(v.brokers, '--brokers') ?? env.KAFKA_BROKERS ?? '';
  const brokers = brokersText
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (brokers.length === 0) {
    throw new RedriveInputError('no brokers: pass --brokers or set KAFKA_BROKERS');
  }
  const badBrokers = brokers.filter((b) => !BROKER_PATTERN.test(b));
  if (badBrokers.length > 0) {
    throw new RedriveInputError(`--brokers: not host:port: ${badBrokers.join(', ')}`);
  }
  const security = kafkaSecurityFromEnvironment(env);
  if (!security.ok) throw new RedriveInputError(security.problems.join('; '));

  const toFlag = single(v.to, '--to');
  const targetTopic = topic(
    toFlag ?? (env.TOPIC_SEND || DEFAULT_TOPICS.send),
    toFlag ? '--to' : 'TOPIC_SEND',
  );
  const fromFlag = single(v.from, '--from');
  const deadLetterTopic = topic(
    fromFlag ?? (env.TOPIC_DEAD_LETTER || DEFAULT_TOPICS.deadLetter),
    fromFlag ? '--from' : 'TOPIC_DEAD_LETTER',
  );
  const sourceTopicFlag = single(v['source-topic'], '--source-topic');
  const sourceTopic = sourceTopicFlag ? topic(sourceTopicFlag, '--source-topic') : targetTopic;
  if (deadLetterTopic === targetTopic) {
    throw new RedriveInputError(`--to and --from are both "${targetTopic}"`);
  }

  const sourcePartitions = listValues(v['source-partition'], '--source-partition').map((p) => {
    if (!/^\d{1,9}$/.test(p)) {
      throw new RedriveInputError(`--source-partition: "${p}" is not a partition number`);
    }
    return Number(p);
  });
  const offsetsText = single(v['source-offsets'], '--source-offsets');
  // Offsets are per partition; a range over several partitions' offsets is almost never meant.
  if (offsetsText !== undefined && sourcePartitions.length === 0) {
    throw new RedriveInputError(
      '--source-offsets needs --source-partition (offsets are per partition)',
    );
  }
  const failedFromText = single(v['failed-from'], '--failed-from');
  const failedBeforeText = single(v['failed-before'], '--failed-before');
  const failedFrom = failedFromText ? parseInstant(failedFromText, '--failed-from') : null;
  const failedBefore = failedBeforeText ? parseInstant(failedBeforeText, '--failed-before') : null;
  if (failedFrom && failedBefore && failedFrom >= failedBefore) {
    throw new RedriveInputError('--failed-from must be before --failed-before');
  }

  const selection: RedriveSelection = {
    sourceTopic,
    reasonCodes: new Set(listValues(v.reason, '--reason').map(parseReasonCode)),
    sourcePartitions: new Set(sourcePartitions),
    sourceOffsets: offsetsText !== undefined ? parseOffsetRange(offsetsText) : null,
    failedFrom,
    failedBefore,
    positions: new Set(
      listValues(v.position, '--position').map((p) => formatPosition(parsePosition(p))),
    ),
  };
  const execute = v.execute === true;
  if (v.all && hasCriteria(selection)) {
    throw new RedriveInputError('--all cannot be combined with other selection flags');
  }
  // Re-publishing a whole dead-letter topic by accident (a forgotten flag) is hard to undo.
  if (execute && !v.all && !hasCriteria(selection)) {
    throw new RedriveInputError(
      '--execute without a selection would re-drive every record: add a selection flag, or --all',
    );
  }

  const timeoutText = single(v['timeout-seconds'], '--timeout-seconds') ?? '60';
  if (!/^\d{1,5}$/.test(timeoutText) || Number(timeoutText) < 1) {
    throw new RedriveInputError(`--timeout-seconds: "${timeoutText}" is not a number of seconds`);
  }

  return {
    brokers,
    security: security.security,
    deadLetterTopic,
    targetTopic,
    selection,
    execute,
    timeoutMs: Number(timeoutText) * 1000,
  };
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      execute: { type: 'boolean' },
      all: { type: 'boolean' },
      reason: { type: 'string', multiple: true },
      'source-partition': { type: 'string', multiple: true },
      'source-offsets': { type: 'string', multiple: true },
      'failed-from': { type: 'string', multiple: true },
      'failed-before': { type: 'string', multiple: true },
      position: { type: 'string', multiple: true },
      to: { type: 'string', multiple: true },
      from: { type: 'string', multiple: true },
      'source-topic': { type: 'string', multiple: true },
      brokers: { type: 'string', multiple: true },
      'timeout-seconds': { type: 'string', multiple: true },
    },
  });
}

/** kafkajs's warnings and errors go to stderr as JSON lines; stdout stays the report. */
const stderrLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', message, ...fields })}\n`),
  error: (fields, message) =>
    process.stderr.write(`${JSON.stringify({ level: 'error', message, ...fields })}\n`),
};

async function run(args: RedriveArgs): Promise<number> {
  const kafka = createKafkaClient(
    {
      clientId: 'omnigate-redrive',
      brokers: args.brokers,
      ...(args.security.tls && { tls: args.security.tls }),
      ...(args.security.sasl && { sasl: args.security.sasl }),
    },
    stderrLogger,
  );
  const snapshot = await readDeadLetterTopic(kafka, args.deadLetterTopic, {
    timeoutMs: args.timeoutMs,
    logger: stderrLogger,
    // A dry run needs no values at all; an execution needs only those of selectable records.
    retainValue: (entry) => args.execute && judgeEntry(entry, args.selection) === 'selected',
  });
  const ends = [...snapshot.endOffsets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([partition, offset]) => `${partition}:${offset}`)
    .join(' ');
  const plan = planRedrive(snapshot.entries, args.selection, args.deadLetterTopic);

  console.log(`dead-letter topic ${args.deadLetterTopic}, read up to end offsets ${ends}`);
  console.log(
    `scanned ${plan.scanned}; selected ${plan.selected.length}; not matching ${plan.notMatching}; ` +
      `from another source topic than ${args.selection.sourceTopic} ${plan.otherSourceTopic}; ` +
      `refused as duplicates ${plan.duplicates.length}`,
  );
  for (const [reason, count] of [...plan.countsByReason.entries()].sort()) {
    console.log(`  ${reason.padEnd(24)} ${String(count).padStart(6)}`);
  }
  for (const entry of plan.selected) console.log(`select  ${describeEntry(entry)}`);
  for (const { entry, duplicateOf } of plan.duplicates) {
    console.log(
      `refuse  ${describeEntry(entry)}  (same original record as dead-letter ${formatPosition(duplicateOf)}, re-driven in this run)`,
    );
  }

  if (!args.execute) {
    console.log(
      `dry run: published 0; add --execute to publish ${plan.selected.length} record(s) to ${args.targetTopic}`,
    );
    return 0;
  }
  if (plan.selected.length === 0) {
    console.log(`published 0 record(s) to ${args.targetTopic}: nothing selected`);
    return 0;
  }
  const publisher = new KafkaPublisher(kafka, stderrLogger);
  try {
    const published = await publishRedrive(
      publisher,
      args.targetTopic,
      args.deadLetterTopic,
      plan.selected,
    );
    console.log(`published ${published} record(s) to ${args.targetTopic} (acks=all)`);
  } finally {
    await publisher.disconnect();
  }
  return 0;
}

async function main(): Promise<number> {
  let args: RedriveArgs | 'help';
  try {
    args = parseCommandLine(process.argv.slice(2), process.env);
  } catch (error: unknown) {
    if (!(error instanceof RedriveInputError)) throw error;
    process.stderr.write(`redrive: ${error.message}\nRun with --help for usage.\n`);
    return EXIT_USAGE;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await run(args);
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`redrive: ${message}\n`);
    return error instanceof RedriveInputError ? EXIT_USAGE : EXIT_FAILED;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `redrive: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(EXIT_FAILED);
  },
);
