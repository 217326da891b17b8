import { z } from 'zod';

/**
 * Small building blocks shared by the SendCommand and DeliveryReceipt schemas. Each carries its own
 * plain-words error so the message reads well wherever the schema is used; generic problems
 * (missing field, wrong type, too long) are worded by the error map in problems.ts.
 */

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Recursive, so it gets a named $defs entry in the exported JSON Schema instead of `__schema0`. */
export const jsonValueSchema: z.ZodType<JsonValue> = z
  .lazy(() =>
    z.union(
      [
        z.string(),
        z.number(),
        z.boolean(),
        z.null(),
        z.array(jsonValueSchema),
        z.record(z.string(), jsonValueSchema),
      ],
      { error: 'must be a JSON value (string, number, boolean, null, array or object)' },
    ),
  )
  .meta({ id: 'JsonValue', description: 'Any JSON value.' });

/**
 * A schema-level message replaces every issue of that schema, including "missing"; this keeps the
 * generic "is required" for absent values and uses `message` for everything else.
 */
export function unlessMissing(message: string) {
  return (issue: { input?: unknown }): string | undefined =>
    issue.input === undefined ? undefined : message;
}

/** RFC 3339 / ISO 8601 with `Z` or a numeric offset; a local time without offset is ambiguous. */
export function isoDateTime() {
  return z.iso.datetime({
    offset: true,
    error: unlessMissing(
      'must be an ISO 8601 date-time with a time zone, like "2025-01-31T09:30:00Z"',
    ),
  });
}

/** Upper snake case machine code, e.g. `INVALID_PHONE`. */
export const UPPER_SNAKE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

export function upperSnakeCode() {
  return z
    .string()
    .min(1)
    .max(64)
    .regex(UPPER_SNAKE, { error: 'must be an UPPER_SNAKE_CASE code like "INVALID_PHONE"' });
}

/** A record of short strings (metadata, template variables, push data). */
export function stringRecord(options: {
  maxEntries: number;
  maxKeyLength: number;
  maxValueLength: number;
}) {
  const { maxEntries, maxKeyLength, maxValueLength } = options;
  return z
    .record(z.string().min(1).max(maxKeyLength), z.string().max(maxValueLength))
    .refine((record) => Object.keys(record).length <= maxEntries, {
      error: `must have at most ${maxEntries} entries`,
    })
    .meta({ maxProperties: maxEntries });
}

/** A lone UTF-16 surrogate: text that is not well-formed Unicode. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/**
 * True when the text can be stored and echoed as it is: no C0 control character or DEL, and no
 * lone surrogate. PostgreSQL refuses NUL in text and jsonb and a lone surrogate in jsonb, so such a
 * value in an id or a reason would fail every write of its record.
 */
export function isStorableText(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) if (isControl(text.charCodeAt(i))) return false;
  return !LONE_SURROGATE.test(text);
}

/** The text with each control character and lone surrogate replaced by U+FFFD. */
export function toStorableText(text: string): string {
  if (isStorableText(text)) return text;
  let clean = '';
  for (const char of text) {
    // Iterating by code point: a lone surrogate arrives as a single unit of its own.
    const code = char.charCodeAt(0);
    const lone = char.length === 1 && code >= 0xd800 && code <= 0xdfff;
    clean += isControl(code) || lone ? '\uFFFD' : char;
  }
  return clean;
}
