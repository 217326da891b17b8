import { DEFAULT_MAX_JSON_DEPTH, jsonTextExceedsDepth } from './json-depth';
import { profileEventSchema, type ProfileEvent } from './profile-event';
import {
  describeJsonError,
  plainErrorMap,
  summarizeProblems,
  toProblems,
  type ValidationProblem,
} from './problems';

export type ProfileDecodeResult =
  | { readonly ok: true; readonly event: ProfileEvent }
  /** A record with a key and no value: compaction's way of saying the customer is gone. */
  | { readonly ok: true; readonly tombstone: { readonly customerId: string } }
  | {
      readonly ok: false;
      readonly code:
        'EMPTY_KEY' | 'PAYLOAD_TOO_LARGE' | 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'KEY_MISMATCH';
      readonly message: string;
      readonly problems: readonly ValidationProblem[];
    };

/** Reads one record of the profiles topic; never throws for bad input. */
export function decodeProfileEvent(
  key: string | null,
  value: Buffer | null,
  options: { readonly maxBytes: number; readonly maxDepth?: number },
): ProfileDecodeResult {
  const fail = (
    code: 'EMPTY_KEY' | 'PAYLOAD_TOO_LARGE' | 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'KEY_MISMATCH',
    message: string,
    problems: readonly ValidationProblem[] = [],
  ): ProfileDecodeResult => ({ ok: false, code, message, problems });
  if (!key) return fail('EMPTY_KEY', 'profile records must be keyed by customerId');
  if (value === null || value.length === 0) return { ok: true, tombstone: { customerId: key } };
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
  let result: ReturnType<typeof profileEventSchema.safeParse>;
  try {
    result = profileEventSchema.safeParse(parsed, { error: plainErrorMap });
  } catch (error) {
    // Validation answers rather than throws; anything that slips through is still bad input.
    const kind = error instanceof Error ? error.name : typeof error;
    return fail('SCHEMA_VIOLATION', `the event could not be validated (${kind})`);
  }
  if (!result.success) {
    const problems = toProblems(result.error);
    return fail('SCHEMA_VIOLATION', summarizeProblems(problems), problems);
  }
  if (result.data.customerId !== key) {
    // Compaction keeps the latest record per key: a mismatched key would let one customer's
    // update erase another's.
    return fail('KEY_MISMATCH', 'the record key differs from the customerId in the value');
  }
  return { ok: true, event: result.data };
}
