import { z } from 'zod';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextExceedsDepth } from './json-depth';
import { isStorableText, isoDateTime, upperSnakeCode } from './primitives';
import {
  describeJsonError,
  plainErrorMap,
  summarizeProblems,
  toProblems,
  type ValidationProblem,
} from './problems';
import { COMMAND_ID_PATTERN, GROUP_KEY_PATTERN } from './send-command';

/**
 * CancelCommand v1: withdraw messages that have not been handed to a provider yet, either one
 * message (`messageId`, the SendCommand id) or every message of a customer's journey
 * (`customerId` + `groupKey`). On its own topic (DEFAULT_TOPICS.cancel), keyed by customerId.
 * A cancel may arrive before the command it names (the topics are not ordered with each other):
 * the gateway remembers it for a while and applies it when the command comes.
 */
export const CANCEL_COMMAND_SCHEMA_VERSION = 1;

const commandId = () =>
  z
    .string()
    .min(1, { abort: true })
    .max(128)
    .regex(COMMAND_ID_PATTERN, { error: 'must use only letters, digits, ".", "_", ":" and "-"' });

const cancelCommandObject = z.strictObject({
  schemaVersion: z.literal(CANCEL_COMMAND_SCHEMA_VERSION).default(CANCEL_COMMAND_SCHEMA_VERSION),
  cancelId: commandId().describe(
    'Idempotency key of the cancel: a repeat with the same id is answered as the first one was.',
  ),
  customerId: z
    .string()
    .min(1)
    .max(128)
    .refine(isStorableText, {
      error: 'must not contain control characters or unpaired surrogates',
    })
    .describe('The customer whose messages are withdrawn; also the record key.'),
  messageId: commandId().optional().describe('Withdraw this one message (a SendCommand id).'),
  groupKey: z
    .string()
    .min(1, { abort: true })
    .max(128)
    .regex(GROUP_KEY_PATTERN, { error: 'must be a lowercase slug like "cart-8812"' })
    .optional()
    .describe("Withdraw every pending message of the customer's journey with this groupKey."),
  reason: z.strictObject({
    code: upperSnakeCode().describe('Stable machine code, e.g. "CART_PURCHASED".'),
    message: z.string().min(1).max(512).describe('Plain words; goes on the CANCELLED receipts.'),
  }),
  requestedBy: z
    .string()
    .min(1)
    .max(128)
    .refine(isStorableText, { error: 'must not contain control characters' })
    .describe('Who asked: a service name or an agent id (never an address).'),
  requestedAt: isoDateTime(),
});

export const cancelCommandSchema = cancelCommandObject
  .refine((cancel) => (cancel.messageId === undefined) !== (cancel.groupKey === undefined), {
    error: 'must name either messageId or groupKey (exactly one of them)',
  })
  .meta({ oneOf: [{ required: ['messageId'] }, { required: ['groupKey'] }] });

export type CancelCommand = z.output<typeof cancelCommandSchema>;
export type CancelCommandInput = z.input<typeof cancelCommandSchema>;

export type CancelDecodeCode =
  'PAYLOAD_TOO_LARGE' | 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'KEY_MISMATCH';

export type CancelDecodeResult =
  | { readonly ok: true; readonly cancel: CancelCommand }
  | {
      readonly ok: false;
      readonly code: CancelDecodeCode;
      readonly message: string;
      readonly problems: readonly ValidationProblem[];
    };

/** Reads one record of the cancel topic; never throws for bad input. */
export function decodeCancelCommand(
  key: string | null,
  value: Buffer | null,
  options: { readonly maxBytes: number; readonly maxDepth?: number },
): CancelDecodeResult {
  const fail = (
    code: CancelDecodeCode,
    message: string,
    problems: readonly ValidationProblem[] = [],
  ): CancelDecodeResult => ({ ok: false, code, message, problems });
  if (value === null || value.length === 0) {
    return fail('SCHEMA_VIOLATION', 'the record has no value');
  }
  if (value.length > options.maxBytes) {
    return fail(
      'PAYLOAD_TOO_LARGE',
      `the record value is ${value.length} bytes, over the limit of ${options.maxBytes} bytes`,
    );
  }
  const text = value.toString('utf8');
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (jsonTextExceedsDepth(text, maxDepth)) {
    return fail(
      'SCHEMA_VIOLATION',
      `objects and arrays are nested more than ${maxDepth} levels deep, over the limit`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail('INVALID_JSON', `the record value is not valid JSON: ${describeJsonError(error)}`);
  }
  const result = cancelCommandSchema.safeParse(parsed, { error: plainErrorMap });
  if (!result.success) {
    const problems = toProblems(result.error);
    return fail('SCHEMA_VIOLATION', summarizeProblems(problems), problems);
  }
  if (key !== null && key !== result.data.customerId) {
    return fail('KEY_MISMATCH', 'the record key must be the customerId');
  }
  return { ok: true, cancel: result.data };
}
