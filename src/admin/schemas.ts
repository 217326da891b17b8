import { channelSchema, COMMAND_ID_PATTERN } from '@omnigate/contracts';
import { z } from 'zod';
import { invalidRequest } from './problem';

/** Every admin request body, query and path parameter is parsed by one of these. */

const isoInstant = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' });
const limit = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(1)
    .max(200)
    .default(fallback);
const cursor = z.string().min(1).max(1024);

export const messageIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(COMMAND_ID_PATTERN, { error: 'must be a message id' });

export const customerIdSchema = z.string().min(1).max(128);

export const listMessagesQuerySchema = z.strictObject({
  customerId: customerIdSchema.optional(),
  status: z.string().min(1).max(32).optional(),
  channel: channelSchema.optional(),
  category: z.string().min(1).max(64).optional(),
  from: isoInstant.optional(),
  to: isoInstant.optional(),
  limit: limit(50),
  cursor: cursor.optional(),
});
export type ListMessagesQuery = z.output<typeof listMessagesQuerySchema>;

export const auditQuerySchema = z.strictObject({
  limit: limit(50),
  cursor: cursor.optional(),
});

export const resendBodySchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(3, { error: 'must say why, in 3 to 500 characters' })
    .max(500, { error: 'must say why, in 3 to 500 characters' }),
  channel: channelSchema.optional(),
  contactIndex: z
    .int({ error: 'must be a whole number' })
    .min(0)
    .max(99)
    .optional()
    .describe(
      "Which of the profile's contacts for the channel, counting from 0 in the order the customer view lists them",
    ),
  contact: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe('A contact typed in full; admin only (an agent is refused whatever the value)'),
  overrideCaps: z.boolean().optional(),
  overrideOptOut: z.boolean().optional(),
  dryRun: z.boolean().optional(),
});
export type ResendBody = z.output<typeof resendBodySchema>;

/** Parses or refuses with a 400 problem that names each bad field. */
export function parseOrRefuse<T extends z.ZodType>(
  schema: T,
  input: unknown,
  what: string,
): z.output<T> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    throw invalidRequest(`${what}: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
  }
  return parsed.data;
}
