import fc from 'fast-check';

/**
 * Generators of send-command records for property-based tests: plausible valid commands, the same
 * commands broken in every way a producer (or an attacker) might break them, and raw bytes. Each
 * generated record says whether it was built to be valid, so a test can tell a wrongly accepted
 * record from a wrongly rejected one.
 */

const CHANNELS = ['sms', 'email', 'whatsapp', 'webpush', 'mobilepush'] as const;

/** Text from every Unicode plane, lone surrogates and control characters included. */
export const oddText = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.constantFrom(
      '\u0000',
      '\uD800',
      '\uDFFF',
      '\u202Eevil',
      '\uFEFF',
      '𝕌𝕟𝕚𝕔𝕠𝕕𝕖',
      '👩🏽‍💻',
      '\r\n',
      '__proto__',
      'constructor',
      '{{#each this}}',
    ),
  );

const idText = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);
const category = fc.constantFrom('order_updates', 'marketing', 'otp', 'security', 'news-digest');
const phone = fc.stringMatching(/^\+1415555[0-9]{4}$/);
const email = fc.constantFrom('a@example.com', 'first.last+tag@example.org');

/** A command the schema accepts: inline content for one channel and its contact. */
export const validCommand = (runId: string): fc.Arbitrary<Record<string, unknown>> =>
  fc
    .record({
      id: idText,
      customerId: fc.stringMatching(/^[a-z0-9-]{1,24}$/),
      category,
      channel: fc.constantFrom(...CHANNELS),
      text: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 160 }),
      phone,
      email,
      priority: fc.constantFrom('high', 'normal', 'low'),
    })
    .map(({ id, customerId, category, channel, text, phone, email, priority }) => {
      const content: Record<string, unknown> = {
        sms: { sms: { text } },
        whatsapp: { whatsapp: { text } },
        email: { email: { subject: 'Hello', text } },
        webpush: { webpush: { title: 'Hello', body: text } },
        mobilepush: { mobilepush: { title: 'Hello', body: text } },
      }[channel];
      const recipient: Record<string, unknown> = {
        sms: { phone },
        whatsapp: { whatsapp: phone },
        email: { email },
        webpush: {},
        mobilepush: { fcmTokens: ['token-1'] },
      }[channel];
      return {
        id: `${runId}-${id}`,
        customerId: `${runId}-${customerId}`,
        category,
        priority,
        channels: [channel],
        recipient,
        content,
      };
    });

/** JSON text nesting `inner` `depth` levels deep in arrays or objects (as text: JSON.stringify
 *  itself overflows on a few thousand levels). */
function nestedText(inner: string, depth: number, asObject: boolean): string {
  return asObject
    ? '{"a":'.repeat(depth) + inner + '}'.repeat(depth)
    : '['.repeat(depth) + inner + ']'.repeat(depth);
}

type Command = Record<string, unknown>;

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

/** One way to break a valid command. */
const mutation: fc.Arbitrary<(command: Record<string, unknown>) => unknown> = fc.oneof(
  // A field of the wrong type (anything at all, nested values included).
  fc
    .tuple(
      fc.constantFrom(
        'id',
        'customerId',
        'category',
        'priority',
        'channels',
        'recipient',
        'content',
      ),
      fc.anything({ maxDepth: 4 }),
    )
    .map(([field, value]) => (command: Command) => ({ ...command, [field]: value })),
  // Deep nesting, in template data or as the whole value of a field.
  fc
    .tuple(fc.integer({ min: 20, max: 5000 }), fc.boolean(), fc.boolean())
    .map(([depth, asObject, inTemplate]) => (command: Command) => {
      const deep = nestedText('1', depth, asObject);
      const rest: Command = { ...command };
      delete rest.content;
      const json = JSON.stringify(rest);
      const field = inTemplate
        ? `"template":{"id":"welcome","data":{"x":${deep}}}`
        : `"content":${deep}`;
      return `${json.slice(0, -1)},${field}}`;
    }),
  // Huge and odd strings in text fields and ids.
  fc
    .tuple(
      fc.constantFrom('id', 'customerId', 'category'),
      fc.oneof(oddText(64), fc.string({ minLength: 1000, maxLength: 70000 })),
    )
    .map(([field, text]) => (command: Command) => ({ ...command, [field]: text })),
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 4000 })
    .map((text) => (command: Command) => ({
      ...command,
      content: { sms: { text } },
    })),
  // Prototype keys, at the top and inside nested objects (JSON.parse makes them own properties).
  fc
    .tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.anything({ maxDepth: 2 }), fc.boolean())
    .map(([key, value, nested]) => (command: Command) => {
      const json = JSON.stringify(command);
      const extra = `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`;
      return nested
        ? json.replace('"recipient":{', `"recipient":{${extra},`)
        : `{${extra},${json.slice(1)}`;
    }),
  // Odd keys anywhere.
  fc
    .dictionary(oddText(16), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })
    .map((extra) => (command: Command) => ({ ...command, ...extra })),
  // A field removed.
  fc
    .constantFrom('id', 'customerId', 'category', 'content', 'recipient')
    .map((field) => (command: Command) => {
      const copy = { ...command };
      delete copy[field];
      return copy;
    }),
);

export interface GeneratedRecord {
  /** Built from a valid command without a mutation. */
  readonly builtValid: boolean;
  readonly value: Buffer;
  /** The command's id when it has one, for matching receipts. */
  readonly id: string | null;
}

const asBuffer = (value: unknown): Buffer =>
  typeof value === 'string'
    ? Buffer.from(value, 'utf8')
    : Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');

/** Valid commands, broken commands and raw bytes, roughly 40 / 50 / 10. */
export const commandRecord = (runId: string): fc.Arbitrary<GeneratedRecord> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: validCommand(runId).map((c) => ({
        builtValid: true,
        value: asBuffer(c),
        id: c.id as string,
      })),
    },
    {
      weight: 5,
      arbitrary: fc.tuple(validCommand(runId), mutation).map(([command, mutate]) => ({
        builtValid: false,
        value: asBuffer(mutate(command)),
        id: command.id as string,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.uint8Array({ maxLength: 512 }), fc.string({ unit: 'binary', maxLength: 512 }))
        .map((raw) => ({
          builtValid: false,
          value: typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw),
          id: null,
        })),
    },
  );
