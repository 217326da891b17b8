import { decodeSendCommand, validateSendCommand } from './decode';
import { isStorableText, toStorableText } from './primitives';
import type { DecodeResult, Rejection, RejectionCode } from './decode';

const MAX = 1024;

const command = {
  id: 'cmd-1',
  customerId: 'cust-1',
  category: 'order_updates',
  recipient: { phone: '+14155550123' },
  content: { sms: { text: 'hello' } },
};

const utf8 = (text: string) => Buffer.from(text, 'utf8');
const json = (value: unknown) => utf8(JSON.stringify(value));

function rejectionOf(result: DecodeResult): Rejection {
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection;
}

describe('decodeSendCommand', () => {
  it('decodes a valid command', () => {
    const result = decodeSendCommand(json(command), { maxBytes: MAX });
    expect(result).toEqual({
      ok: true,
      command: { ...command, schemaVersion: 1, priority: 'normal' },
    });
  });

  it('accepts a value of exactly maxBytes', () => {
    const bytes = json(command);
    expect(decodeSendCommand(bytes, { maxBytes: bytes.length }).ok).toBe(true);
  });

  it('tolerates a UTF-8 byte order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(command)]);
    expect(decodeSendCommand(bytes, { maxBytes: MAX }).ok).toBe(true);
  });

  const malformed: [string, Buffer | null, RejectionCode, string][] = [
    ['a null value (tombstone)', null, 'EMPTY_PAYLOAD', 'no value'],
    ['zero bytes', Buffer.alloc(0), 'EMPTY_PAYLOAD', 'no value'],
    ['only whitespace', utf8(' \n\t '), 'EMPTY_PAYLOAD', 'only whitespace'],
    [
      'one byte over the limit',
      Buffer.alloc(MAX + 1, 0x20),
      'PAYLOAD_TOO_LARGE',
      `over the limit of ${MAX} bytes`,
    ],
    // Size is checked first: an oversized record is never decoded, whatever it contains.
    [
      'oversized and not UTF-8',
      Buffer.alloc(MAX + 1, 0xff),
      'PAYLOAD_TOO_LARGE',
      `${MAX + 1} bytes`,
    ],
    ['a stray 0xFF byte', Buffer.from([0x7b, 0xff, 0x7d]), 'INVALID_ENCODING', 'not valid UTF-8'],
    ['an overlong encoding', Buffer.from([0x22, 0xc0, 0xaf, 0x22]), 'INVALID_ENCODING', 'UTF-8'],
    [
      'a truncated multi-byte sequence',
      Buffer.from([0x22, 0xe4, 0xbd, 0x22]),
      'INVALID_ENCODING',
      'UTF-8',
    ],
    [
      'an encoded UTF-16 surrogate',
      Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
      'INVALID_ENCODING',
      'UTF-8',
    ],
    ['Latin-1 text', Buffer.from('{"text":"café"}', 'latin1'), 'INVALID_ENCODING', 'UTF-8'],
    ['plain text', utf8('hello'), 'INVALID_JSON', 'not valid JSON'],
    ['truncated JSON', utf8('{"id": '), 'INVALID_JSON', 'not valid JSON'],
    ['JSON with a trailing comma', utf8('{"id": "a",}'), 'INVALID_JSON', 'not valid JSON'],
    ['single-quoted JSON', utf8("{'id': 'a'}"), 'INVALID_JSON', 'not valid JSON'],
    ['a JSON string', utf8('"cmd-1"'), 'SCHEMA_VIOLATION', 'must be an object, got a string'],
    ['a JSON array', utf8('[]'), 'SCHEMA_VIOLATION', 'must be an object, got an array'],
    ['JSON null', utf8('null'), 'SCHEMA_VIOLATION', 'must be an object, got null'],
    [
      'a command without id',
      json({ ...command, id: undefined }),
      'SCHEMA_VIOLATION',
      'id: is required',
    ],
  ];

  it.each(malformed)('rejects %s', (_label, value, code, fragment) => {
    const rejection = rejectionOf(decodeSendCommand(value, { maxBytes: MAX }));
    expect(rejection.code).toBe(code);
    expect(rejection.message).toContain(fragment);
    if (code !== 'SCHEMA_VIOLATION') {
      expect(rejection).toMatchObject({ problems: [], commandId: null, customerId: null });
    }
  });

  it('counts bytes, not characters', () => {
    const text = '货'.repeat(400); // 3 bytes each in UTF-8
    const bytes = json({ ...command, content: { sms: { text } } });
    expect(text.length).toBeLessThan(MAX);
    expect(rejectionOf(decodeSendCommand(bytes, { maxBytes: MAX })).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('names the command and customer of a schema violation when it can', () => {
    const rejection = rejectionOf(
      decodeSendCommand(json({ ...command, recipient: { phone: 'nope' } }), { maxBytes: MAX }),
    );
    expect(rejection).toMatchObject({
      code: 'SCHEMA_VIOLATION',
      commandId: 'cmd-1',
      customerId: 'cust-1',
      problems: [{ path: 'recipient.phone', message: expect.stringContaining('E.164') as string }],
    });
  });

  it.each([
    ['ids of the wrong type', { id: 7, customerId: ['c'] }],
    ['empty ids', { id: '', customerId: '' }],
    ['absurdly long ids', { id: 'x'.repeat(300), customerId: 'y'.repeat(300) }],
  ])('leaves commandId/customerId null for %s', (_label, ids) => {
    const rejection = rejectionOf(
      decodeSendCommand(json({ ...command, ...ids }), { maxBytes: MAX }),
    );
    expect(rejection).toMatchObject({ commandId: null, customerId: null });
  });

  it('echoes only ids that fit the REJECTED receipt (messageId up to 256, customerId up to 128)', () => {
    const rejection = rejectionOf(
      decodeSendCommand(json({ ...command, id: 'x'.repeat(200), customerId: 'y'.repeat(200) }), {
        maxBytes: MAX,
      }),
    );
    expect(rejection).toMatchObject({ commandId: 'x'.repeat(200), customerId: null });
  });

  it('still names an id that breaks the id rules, so the receipt can be matched', () => {
    const rejection = rejectionOf(
      decodeSendCommand(json({ ...command, id: 'has spaces' }), { maxBytes: MAX }),
    );
    expect(rejection.commandId).toBe('has spaces');
  });

  it('passes multi-byte text through byte-for-byte', () => {
    const text = '您好 👋🏽 \u200Fمرحبا';
    const result = decodeSendCommand(json({ ...command, content: { sms: { text } } }), {
      maxBytes: MAX,
    });
    expect(result.ok && result.command.content?.sms?.text).toBe(text);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxBytes %p (a configuration bug)', (maxBytes) => {
    expect(() => decodeSendCommand(json(command), { maxBytes })).toThrow(RangeError);
  });

  it('never throws on arbitrary bytes', () => {
    // Small deterministic PRNG so a failure is reproducible.
    let seed = 42;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const samples = [json(command)];
    for (let i = 0; i < 300; i += 1) {
      const source = samples[next() % samples.length] ?? Buffer.alloc(0);
      const copy = Buffer.from(source);
      for (let flips = next() % 4; flips >= 0; flips -= 1) {
        copy[next() % copy.length] = next() % 256;
      }
      const result = decodeSendCommand(copy, { maxBytes: MAX });
      expect(typeof result.ok).toBe('boolean');
      if (!result.ok) expect(result.rejection.message.length).toBeGreaterThan(0);
    }
  });
});

describe('decodeSendCommand: nesting depth', () => {
  const nest = (depth: number, inner: string): string => {
    let text = inner;
    for (let i = 0; i < depth; i += 1) text = `{"a":${text}}`;
    return text;
  };
  const templated = (data: string): Buffer =>
    utf8(
      `{"id":"cmd-deep","customerId":"cust-1","category":"marketing","template":{"id":"t","data":{"x":${data}}}}`,
    );

  it('rejects template data nested 2,000 levels deep as a schema violation, without throwing', () => {
    const rejection = rejectionOf(decodeSendCommand(templated(nest(2000, '1')), { maxBytes: 1e6 }));
    expect(rejection.code).toBe('SCHEMA_VIOLATION');
    expect(rejection.message).toContain('nested more than 32 levels');
  });

  it('rejects a top-level value nested 5,000 levels deep', () => {
    const value = utf8(`{"id":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    const rejection = rejectionOf(decodeSendCommand(value, { maxBytes: 1e6 }));
    expect(rejection).toMatchObject({ code: 'SCHEMA_VIOLATION', commandId: null });
  });

  it('accepts data up to the configured depth and rejects one level more', () => {
    // The command, template and data objects take three levels; "x" holds the rest.
    expect(decodeSendCommand(templated(nest(5, '1')), { maxBytes: MAX, maxDepth: 8 }).ok).toBe(
      true,
    );
    expect(decodeSendCommand(templated(nest(6, '1')), { maxBytes: MAX, maxDepth: 8 }).ok).toBe(
      false,
    );
  });

  it('also bounds already-parsed input (an HTTP body)', () => {
    let data: unknown = 1;
    for (let i = 0; i < 3000; i += 1) data = [data];
    const result = validateSendCommand({
      ...command,
      content: undefined,
      template: { id: 't', data: { x: data } },
    });
    expect(rejectionOf(result).message).toContain('nested more than 32 levels');
  });

  it('keeps control characters out of the reason and the echoed ids', () => {
    const rejection = rejectionOf(
      decodeSendCommand(json({ ...command, customerId: 'a\u0000b', ['bad\u0000key']: 1 }), {
        maxBytes: MAX,
      }),
    );
    expect(rejection.customerId).toBeNull();
    const texts = [rejection.message, ...rejection.problems.flatMap((p) => [p.path, p.message])];
    for (const text of texts) expect(text).not.toContain('\u0000');
    expect(rejection.problems.map((p) => p.path)).toContain('customerId');
  });
});

describe('isStorableText / toStorableText', () => {
  it.each([
    ['plain text', 'cust-1', true],
    ['emoji (a surrogate pair)', 'cust-👋🏽', true],
    ['NUL', 'a\u0000b', false],
    ['DEL', 'a\u007fb', false],
    ['a lone high surrogate', 'a\uD800b', false],
    ['a lone low surrogate', '\uDC00', false],
  ])('%s', (_label, text, storable) => {
    expect(isStorableText(text)).toBe(storable);
    expect(isStorableText(toStorableText(text))).toBe(true);
    if (storable) expect(toStorableText(text)).toBe(text);
  });
});
