import { z } from 'zod';

/** One thing wrong with a payload: where (`recipient.phone`, `channels[2]`, '' for the whole
 *  object) and what, in plain words. */
export interface ValidationProblem {
  path: string;
  message: string;
}

/** Messages end up in Kafka headers and receipts; cap them so one bad payload cannot bloat both. */
export const MAX_PROBLEMS_IN_MESSAGE = 10;
export const MAX_PROBLEMS_REPORTED = 50;
const MAX_ECHO_LENGTH = 64;

function truncate(text: string): string {
  return text.length > MAX_ECHO_LENGTH ? `${text.slice(0, MAX_ECHO_LENGTH)}…` : text;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Stands for a key that is not a plain name: it may be data (a phone number, an address). */
const UNNAMED_KEY = '[…]';

/**
 * A key from the payload as a reason may quote it. Reasons end up in receipts, headers and logs,
 * so they name fields and limits, never values: a key that is not a plain name (an address or a
 * number used as a key) is replaced.
 */
function quotableKey(key: string): string | undefined {
  const short = truncate(key);
  return IDENTIFIER.test(short) ? short : undefined;
}

/** `['recipient', 'phone']` → `recipient.phone`; `['channels', 2]` → `channels[2]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') {
      out += `[${segment}]`;
    } else {
      const key = quotableKey(typeof segment === 'string' ? segment : String(segment));
      if (key === undefined) {
        out += UNNAMED_KEY;
      } else {
        out += out === '' ? key : `.${key}`;
      }
    }
  }
  return out;
}

/**
 * Why JSON.parse failed, by position only. V8's own message quotes an excerpt of the input
 * (`Unexpected token 'a', "+44 77009…" is not valid JSON`), which could be a phone number or a
 * message body.
 */
export function describeJsonError(error: unknown): string {
  const text = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(text)?.[1];
  if (position !== undefined) return `malformed at character ${position}`;
  if (/end of (JSON|data) input/i.test(text)) return 'it ends too early';
  return 'malformed';
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      // Not the number itself: a phone number sent as a number must not be echoed.
      return Number.isFinite(value) ? 'a number' : 'a non-finite number';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  null: 'null',
};

function sizeUnit(origin: string, count: number | bigint): string {
  if (origin === 'string') return count === 1 ? 'character' : 'characters';
  return count === 1 ? 'item' : 'items';
}

/**
 * Plain-words messages for generic issues. Schema-level `error` params win over this map (zod's
 * precedence), so fields with a specific rule, such as E.164 phones, keep their own wording.
 */
export const plainErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'too_small': {
      const { origin, minimum, inclusive } = issue;
      if (origin === 'number' || origin === 'int' || origin === 'bigint') {
        return inclusive ? `must be at least ${minimum}` : `must be greater than ${minimum}`;
      }
      if (Number(minimum) === 1 && inclusive !== false) return 'must not be empty';
      return `must have at least ${minimum} ${sizeUnit(origin, minimum)}`;
    }
    case 'too_big': {
      const { origin, maximum, inclusive } = issue;
      if (origin === 'number' || origin === 'int' || origin === 'bigint') {
        return inclusive ? `must be at most ${maximum}` : `must be less than ${maximum}`;
      }
      return `must have at most ${maximum} ${sizeUnit(origin, maximum)}`;
    }
    case 'invalid_format':
      switch (issue.format) {
        case 'email':
          return 'must be a valid email address';
        case 'url':
          return 'must be a valid URL';
        case 'datetime':
          return 'must be an ISO 8601 date-time with a time zone, like "2025-01-31T09:30:00Z"';
        default:
          return 'has an invalid format';
      }
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `has unknown fields: ${issue.keys.map((key) => quotableKey(key) ?? UNNAMED_KEY).join(', ')}`;
    case 'invalid_union':
      return 'does not match any allowed shape';
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid entry';
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
};

function withPrefix(prefix: readonly PropertyKey[], issue: z.core.$ZodIssue): PropertyKey[] {
  return [...prefix, ...issue.path];
}

/**
 * A union that failed carries one issue list per branch. Branches that failed only because the
 * value had the wrong type altogether tell the reader nothing; of the rest, the one with the
 * fewest problems is almost always the shape the producer meant. If that is ambiguous we fall back
 * to the union's own message (e.g. "either text or template").
 */
function pickUnionBranch(branches: readonly (readonly z.core.$ZodIssue[])[]) {
  const relevant = branches.filter(
    (issues) => !issues.every((issue) => issue.code === 'invalid_type' && issue.path.length === 0),
  );
  if (relevant.length === 0) return undefined;
  const fewest = Math.min(...relevant.map((issues) => issues.length));
  const best = relevant.filter((issues) => issues.length === fewest);
  return best.length === 1 ? best[0] : undefined;
}

function collect(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
  out: ValidationProblem[],
): void {
  for (const issue of issues) {
    const path = withPrefix(prefix, issue);
    if (issue.code === 'unrecognized_keys') {
      // One problem per key, located at the key itself, so the typo is in the path.
      for (const key of issue.keys) {
        out.push({
          path: formatPath([...path, key]),
          message: 'is not a known field (check the spelling)',
        });
      }
    } else if (issue.code === 'invalid_union') {
      const branch = pickUnionBranch(issue.errors);
      if (branch) collect(branch, path, out);
      else out.push({ path: formatPath(path), message: issue.message });
    } else if (issue.code === 'invalid_key' || issue.code === 'invalid_element') {
      const details = issue.issues.map((inner) => inner.message).join(', ');
      out.push({ path: formatPath(path), message: `${issue.message}: ${details}` });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
}

/** Flattens zod issues into path + message pairs (uncapped; callers cap what they publish). */
export function toProblems(error: z.ZodError): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  collect(error.issues, [], out);
  return out;
}

/** One readable sentence: `recipient.phone: must be …; channels[2]: unknown channel …`. */
export function summarizeProblems(problems: readonly ValidationProblem[]): string {
  const shown = problems
    .slice(0, MAX_PROBLEMS_IN_MESSAGE)
    .map(({ path, message }) => (path === '' ? message : `${path}: ${message}`));
  const hidden = problems.length - shown.length;
  return hidden > 0 ? `${shown.join('; ')}; and ${hidden} more` : shown.join('; ');
}
