import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS } from './channels';
import { validateSendCommand } from './decode';
import { deliveryReceiptSchema } from './delivery-receipt';
import { receiptEventId } from './event-id';
import { plainErrorMap, summarizeProblems, toProblems } from './problems';

// The examples double as documentation, so they must stay valid as the contract evolves.
const EXAMPLES_DIR = join(__dirname, '..', 'examples');
const files = readdirSync(EXAMPLES_DIR)
  .filter((name) => name.endsWith('.json'))
  .sort();
const load = (name: string): unknown =>
  JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8')) as unknown;

const commandFiles = files.filter((name) => name.startsWith('send-command.'));
const receiptFiles = files.filter((name) => name.startsWith('delivery-receipt.'));

describe('examples', () => {
  it('are all either send commands or receipts', () => {
    expect([...commandFiles, ...receiptFiles].sort()).toEqual(files);
  });

  it('include a send command for every channel and one using a stored template', () => {
    const expected = [...CHANNELS, 'template'].map((kind) => `send-command.${kind}.json`);
    expect(commandFiles).toEqual(expect.arrayContaining(expected));
  });

  it.each(commandFiles)('%s is a valid SendCommand', (name) => {
    const result = validateSendCommand(load(name));
    if (!result.ok) throw new Error(`${name}: ${result.rejection.message}`);
    expect(result.ok).toBe(true);
  });

  it.each(CHANNELS)('send-command.%s.json has %s content', (channel) => {
    const result = validateSendCommand(load(`send-command.${channel}.json`));
    expect(result.ok && result.command.content?.[channel]).toBeTruthy();
  });

  it('has at least one receipt', () => {
    expect(receiptFiles.length).toBeGreaterThan(0);
  });

  it.each(receiptFiles)('%s is a valid DeliveryReceipt', (name) => {
    const result = deliveryReceiptSchema.safeParse(load(name), { error: plainErrorMap });
    if (!result.success) throw new Error(`${name}: ${summarizeProblems(toProblems(result.error))}`);
    // The eventId in each example is the real one for its parts (no discriminator used).
    const { messageId, status, attempt, eventId } = result.data;
    expect(eventId).toBe(receiptEventId({ messageId, status, attempt }));
  });
});
