import { DEFAULT_MAX_JSON_DEPTH, jsonTextExceedsDepth, valueExceedsDepth } from './json-depth';
import { isStorableText, toStorableText } from './primitives';
import {
  describeJsonError,
  MAX_PROBLEMS_REPORTED,
  plainErrorMap,
  summarizeProblems,
  toProblems,
} from './problems';
import type { ValidationProblem } from './problems';
import { sendCommandSchema } from './send-command';
import type { SendCommand } from './send-command';

export const REJECTION_CODES = [
  'EMPTY_PAYLOAD',
  'PAYLOAD_TOO_LARGE',
  'INVALID_ENCODING',
  'INVALID_JSON',
  'SCHEMA_VIOLATION',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/**
 * Why a record could not become a SendCommand. `problems` is filled only for SCHEMA_VIOLATION
 * (the other codes have nothing finer to point at). `commandId`/`customerId` are best-effort
 * reads of the raw JSON so the REJECTED receipt can still be routed to the right producer.
 */
export interface Rejection {
  code: RejectionCode;
  message: string;
  problems: ValidationProblem[];
  commandId: string | null;
  customerId: string | null;
}

export type DecodeResult = { ok: true; command: SendCommand } | { ok: false; rejection: Rejection };

export interface DecodeOptions {
  /** Largest accepted record value in bytes; checked before any decoding work. */
  maxBytes: number;
  /** Deepest accepted nesting of objects and arrays; checked before parsing. Default 32. */
  maxDepth?: number;
}

// fatal: reject malformed UTF-8 instead of silently inserting U+FFFD into someone's message.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Longer values cannot be valid ids, and echoing them into receipts would only add noise. */
// Echoed ids end up on the REJECTED receipt, so they must fit its fields (messageId 256,
// customerId 128); a longer one is dropped rather than making that receipt break the contract.
const MAX_ECHOED_LENGTH: Readonly<Record<'id' | 'customerId', number>> = {
  id: 256,
  customerId: 128,
};

function reject(
  code: RejectionCode,
  message: string,
  extra: Partial<Pick<Rejection, 'problems' | 'commandId' | 'customerId'>> = {},
): DecodeResult {
  // Reasons may name keys the producer sent; a control character there would make the REJECTED
  // receipt itself unwritable (PostgreSQL refuses NUL in jsonb).
  const problems = (extra.problems ?? []).map((problem) => ({
    path: toStorableText(problem.path),
    message: toStorableText(problem.message),
  }));
  return {
    ok: false,
    rejection: {
      commandId: null,
      customerId: null,
      ...extra,
      code,
      message: toStorableText(message),
      problems,
    },
  };
}

function readIdField(input: unknown, key: 'id' | 'customerId'): string | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return null;
  const value: unknown = (input as Record<string, unknown>)[key];
  return typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_ECHOED_LENGTH[key] &&
    isStorableText(value)
    ? value
    : null;
}

/** Validates already-parsed JSON (e.g. an HTTP body) against SendCommand v1. Never throws. */
export function validateSendCommand(
  input: unknown,
  options: Pick<DecodeOptions, 'maxDepth'> = {},
): DecodeResult {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (valueExceedsDepth(input, maxDepth)) return tooDeep(maxDepth);
  return validateBounded(input);
}

/** Validates input whose depth is already known to be within the limit. Never throws. */
function validateBounded(input: unknown): DecodeResult {
  try {
    const result = sendCommandSchema.safeParse(input, { error: plainErrorMap });
    if (result.success) return { ok: true, command: result.data };
    const problems = toProblems(result.error);
    return reject('SCHEMA_VIOLATION', summarizeProblems(problems), {
      problems: problems.slice(0, MAX_PROBLEMS_REPORTED),
      commandId: readIdField(input, 'id'),
      customerId: readIdField(input, 'customerId'),
    });
  } catch (error) {
    // Validation is meant to answer, not throw; whatever slipped through is still the input's
    // fault as far as the producer can tell, and must not stop the consumer.
    const kind = error instanceof Error ? error.name : typeof error;
    return reject('SCHEMA_VIOLATION', `the command could not be validated (${kind})`, {
      commandId: readIdField(input, 'id'),
      customerId: readIdField(input, 'customerId'),
    });
  }
}

function tooDeep(maxDepth: number): DecodeResult {
  return reject(
    'SCHEMA_VIOLATION',
    `objects and arrays are nested more than ${maxDepth} levels deep, over the limit`,
  );
}

/** Turns a Kafka record value into a SendCommand, or says precisely why it cannot. Never throws
 *  for bad input: a poison record must become a rejection, not a crashed consumer. */
export function decodeSendCommand(value: Buffer | null, options: DecodeOptions): DecodeResult {
  const { maxBytes } = options;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`maxBytes must be a positive integer, got ${String(maxBytes)}`);
  }
  if (!Number.isSafeInteger(maxDepth) || maxDepth <= 0) {
    throw new RangeError(`maxDepth must be a positive integer, got ${String(maxDepth)}`);
  }
  if (value === null || value.length === 0) {
    return reject('EMPTY_PAYLOAD', 'the record has no value (null or zero bytes)');
  }
  if (value.length > maxBytes) {
    return reject(
      'PAYLOAD_TOO_LARGE',
      `the record value is ${value.length} bytes, over the limit of ${maxBytes} bytes`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return reject('INVALID_ENCODING', 'the record value is not valid UTF-8 text');
  }
  if (text.trim() === '') {
    return reject('EMPTY_PAYLOAD', 'the record value contains only whitespace');
  }
  if (jsonTextExceedsDepth(text, maxDepth)) return tooDeep(maxDepth);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return reject(
      'INVALID_JSON',
      `the record value is not valid JSON: ${describeJsonError(error)}`,
    );
  }
  // The text scan above already bounded the depth; walking the parsed value again would only
  // repeat it on every record.
  return validateBounded(parsed);
}
