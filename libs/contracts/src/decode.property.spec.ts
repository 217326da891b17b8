import fc from 'fast-check';
import stringify from 'safe-stable-stringify';
import { commandRecord } from '../../../test/support/command-arbitraries';
import { REJECTION_CODES, decodeSendCommand } from './decode';
import { isStorableText } from './primitives';

/**
 * Decoding is where a poison record would stop a partition, so it is held to properties over
 * 10,000 generated records: valid commands, the same commands broken in every way (wrong types,
 * deep nesting, huge and odd strings from every Unicode plane, prototype keys, missing fields) and
 * raw bytes. Whatever comes in, decode answers; an accepted command survives everything the
 * pipeline does to it next (canonical stringify for sealing, JSON round trip); a rejection has a
 * known code and a reason fit for a receipt.
 */
const MAX_BYTES = 65536;
const MAX_DEPTH = 32;

describe('decodeSendCommand over generated records', () => {
  it('answers every one of 10,000 records without throwing', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(commandRecord('prop'), (record) => {
        const result = decodeSendCommand(record.value, {
          maxBytes: MAX_BYTES,
          maxDepth: MAX_DEPTH,
        });
        if (result.ok) {
          accepted += 1;
          // What the pipeline does next with an accepted command must not throw either.
          const canonical = stringify(result.command);
          expect(typeof canonical).toBe('string');
          expect(JSON.parse(JSON.stringify(result.command))).toEqual(result.command);
          expect(isStorableText(result.command.customerId)).toBe(true);
          return;
        }
        rejected += 1;
        expect(record.builtValid).toBe(false);
        const { rejection } = result;
        expect(REJECTION_CODES).toContain(rejection.code);
        expect(rejection.message.length).toBeGreaterThan(0);
        expect(rejection.message.length).toBeLessThanOrEqual(2000);
        expect(isStorableText(rejection.message)).toBe(true);
        for (const id of [rejection.commandId, rejection.customerId]) {
          if (id !== null) expect(isStorableText(id)).toBe(true);
        }
      }),
      { numRuns: 10_000, seed: 20261204 },
    );
    // The generator must exercise both sides, or the property says little.
    expect(accepted).toBeGreaterThan(2500);
    expect(rejected).toBeGreaterThan(4000);
  });
});
