import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { JSON_SCHEMA_DIR, renderJsonSchemas } from './json-schema';
import { SCHEMA_IDS } from './topics';

const SCHEMA_DIR = join(__dirname, '..', 'schemas');

function parsed(fileName: string): Record<string, unknown> {
  const text = renderJsonSchemas()[fileName];
  if (text === undefined) throw new Error(`${fileName} is not rendered`);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('JSON Schema export', () => {
  it('points at this folder', () => {
    expect(join(__dirname, '..', '..', '..', JSON_SCHEMA_DIR)).toBe(SCHEMA_DIR);
  });

  it('renders the same text every time', () => {
    expect(renderJsonSchemas()).toEqual(renderJsonSchemas());
  });

  it('has exactly the committed files', () => {
    const committed = readdirSync(SCHEMA_DIR).filter((name) => name.endsWith('.json'));
    expect(committed.sort()).toEqual(Object.keys(renderJsonSchemas()).sort());
  });

  it.each(Object.entries(renderJsonSchemas()))(
    'committed %s matches the code',
    (fileName, expected) => {
      const actual = readFileSync(join(SCHEMA_DIR, fileName), 'utf8');
      if (actual !== expected) {
        const actualLines = actual.split('\n');
        const expectedLines = expected.split('\n');
        const differs = expectedLines.findIndex((text, index) => text !== actualLines[index]);
        // -1: the committed file only has extra lines at the end.
        const line = differs === -1 ? expectedLines.length : differs;
        throw new Error(
          `libs/contracts/schemas/${fileName} is out of date with the zod schemas ` +
            `(first difference at line ${line + 1}: expected ${JSON.stringify(expectedLines[line])}): ` +
            'run npm run contracts:generate and commit the result',
        );
      }
    },
  );

  it('is pretty-printed with a trailing newline', () => {
    for (const text of Object.values(renderJsonSchemas())) {
      expect(text.endsWith('}\n')).toBe(true);
      expect(text).toContain('\n  "$id": ');
    }
  });

  it('describes the send command input: defaulted fields are optional', () => {
    const schema = parsed('send-command.v1.schema.json');
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: SCHEMA_IDS.sendCommand,
      title: 'Omnigate SendCommand v1',
      additionalProperties: false,
      required: ['id', 'customerId', 'category'],
      oneOf: [{ required: ['content'] }, { required: ['template'] }],
    });
  });

  it('describes the delivery receipt', () => {
    const schema = parsed('delivery-receipt.v1.schema.json');
    expect(schema).toMatchObject({ $id: SCHEMA_IDS.deliveryReceipt, type: 'object' });
    expect(schema.required).toEqual(
      expect.arrayContaining(['eventId', 'messageId', 'customerId', 'status', 'trace']),
    );
  });
});
