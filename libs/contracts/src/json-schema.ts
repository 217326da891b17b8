import { z } from 'zod';
import { cancelCommandSchema } from './cancel-command';
import { deliveryReceiptSchema } from './delivery-receipt';
import { profileEventSchema } from './profile-event';
import { providerEventSchema } from './provider-event';
import { sendCommandSchema } from './send-command';
import { SCHEMA_IDS } from './topics';

/** Where the rendered files live, relative to the repository root. */
export const JSON_SCHEMA_DIR = 'libs/contracts/schemas';

interface SchemaExport {
  fileName: string;
  id: string;
  title: string;
  description: string;
  schema: z.ZodType;
}

const EXPORTS: readonly SchemaExport[] = [
  {
    fileName: 'send-command.v1.schema.json',
    id: SCHEMA_IDS.sendCommand,
    title: 'Omnigate SendCommand v1',
    description:
      'A request to send one message to one recipient over one or more channels. Generated from libs/contracts; do not edit.',
    schema: sendCommandSchema,
  },
  {
    fileName: 'delivery-receipt.v1.schema.json',
    id: SCHEMA_IDS.deliveryReceipt,
    title: 'Omnigate DeliveryReceipt v1',
    description: 'What happened to a send command. Generated from libs/contracts; do not edit.',
    schema: deliveryReceiptSchema,
  },
  {
    fileName: 'profile-event.v1.schema.json',
    id: SCHEMA_IDS.profileEvent,
    title: 'Omnigate ProfileEvent v1',
    description:
      'A change to one customer profile on the compacted profiles topic. Generated from libs/contracts; do not edit.',
    schema: profileEventSchema,
  },
  {
    fileName: 'provider-event.v1.schema.json',
    id: SCHEMA_IDS.providerEvent,
    title: 'Omnigate ProviderEvent v1',
    description:
      "A provider's verified report about a sent message or an address, on the provider-events topic. Generated from libs/contracts; do not edit.",
    schema: providerEventSchema,
  },
  {
    fileName: 'cancel-command.v1.schema.json',
    id: SCHEMA_IDS.cancelCommand,
    title: 'Omnigate CancelCommand v1',
    description:
      'A request to withdraw pending messages, by message id or by customer and group key, on the cancel topic. Generated from libs/contracts; do not edit.',
    schema: cancelCommandSchema,
  },
];

/**
 * Renders the JSON Schema files as text, keyed by file name. `io: 'input'` describes what a
 * producer may send, so fields with defaults (priority, schemaVersion) are not listed as required.
 * The output depends only on the code, which is what lets a spec compare it with the committed files.
 */
export function renderJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const { fileName, id, title, description, schema } of EXPORTS) {
    const { $schema, ...body } = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'input',
    });
    const document = { $schema, $id: id, title, description, ...body };
    files[fileName] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return files;
}
