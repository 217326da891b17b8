import { z } from 'zod';
import { channelSchema } from './channels';
import type { Channel } from './channels';
import { receiptEventId } from './event-id';
import { isoDateTime, upperSnakeCode } from './primitives';
import { plainErrorMap, summarizeProblems, toProblems } from './problems';
import type { ValidationProblem } from './problems';
import { RECEIPT_STATUSES } from './receipt-status';
import type { ReceiptStatus } from './receipt-status';

/**
 * DeliveryReceipt v1: what the gateway publishes on the receipts topic. Unlike SendCommand this is
 * not strict: consumers should be tolerant readers, so an optional field added later in v1 must not
 * make their validation fail.
 */

export const DELIVERY_RECEIPT_SCHEMA_VERSION = 1;

export const TRACE_DECISIONS = ['chosen', 'skipped', 'failed', 'sent'] as const;
export type TraceDecision = (typeof TRACE_DECISIONS)[number];

/** One routing decision, in the order it was taken; tells a human why a channel was (not) used. */
export const traceEntrySchema = z.object({
  channel: channelSchema,
  decision: z.enum(TRACE_DECISIONS),
  reasonCode: upperSnakeCode().optional(),
  detail: z.string().min(1).max(1024).describe('Plain words, e.g. "no phone number on file".'),
  at: isoDateTime().optional(),
});
export type TraceEntry = z.infer<typeof traceEntrySchema>;

export const receiptReasonSchema = z.object({
  code: upperSnakeCode().describe('Stable machine code, e.g. "SCHEMA_VIOLATION".'),
  message: z.string().min(1).max(2048).describe('Plain words for a human reader.'),
});
export type ReceiptReason = z.infer<typeof receiptReasonSchema>;

const nullableText = (max: number) => z.string().min(1).max(max).nullable();

export const deliveryReceiptSchema = z
  .object({
    schemaVersion: z.literal(DELIVERY_RECEIPT_SCHEMA_VERSION),
    eventId: z
      .string()
      .min(1)
      .max(128)
      .describe('Same event, same id (also on re-emission): deduplicate on it.'),
    messageId: z
      .string()
      .min(1)
      .max(256)
      .describe('The command id; a synthetic id when the command could not be read.'),
    customerId: nullableText(128).describe('Null only when the command could not be read.'),
    status: z.enum(RECEIPT_STATUSES),
    channel: channelSchema.nullable(),
    provider: nullableText(128),
    providerMessageId: nullableText(512),
    attempt: z
      .int()
      .min(0)
      .describe('Dispatch attempts made so far: 0 before the first (accepted, rejected, ...).'),
    reason: receiptReasonSchema.nullable(),
    occurredAt: isoDateTime(),
    deferredUntil: isoDateTime().optional(),
    fallbackFrom: channelSchema.optional(),
    trace: z.array(traceEntrySchema).max(100),
    correlation: z.record(z.string().min(1).max(128), z.string().max(512)).optional(),
  })
  .superRefine((receipt, ctx) => {
    if (receipt.customerId === null && receipt.status !== 'rejected') {
      ctx.addIssue({
        code: 'custom',
        path: ['customerId'],
        message: 'may be null only on a rejected receipt (the command could not be read)',
      });
    }
    if (receipt.deferredUntil !== undefined && receipt.status !== 'deferred') {
      ctx.addIssue({
        code: 'custom',
        path: ['deferredUntil'],
        message: 'is only allowed when status is deferred',
      });
    }
    if (receipt.fallbackFrom !== undefined && receipt.fallbackFrom === receipt.channel) {
      ctx.addIssue({
        code: 'custom',
        path: ['fallbackFrom'],
        message: 'must differ from channel (a fallback moves to another channel)',
      });
    }
  })
  // JSON Schema cannot see the refinement above; state the two simple rules there as well.
  .meta({
    allOf: [
      {
        if: { properties: { customerId: { type: 'null' } }, required: ['customerId'] },
        then: { properties: { status: { const: 'rejected' } } },
      },
      {
        if: { required: ['deferredUntil'] },
        then: { properties: { status: { const: 'deferred' } } },
      },
    ],
  });

export type DeliveryReceipt = z.output<typeof deliveryReceiptSchema>;

export interface BuildReceiptInput {
  messageId: string;
  customerId: string | null;
  status: ReceiptStatus;
  channel?: Channel | null;
  provider?: string | null;
  providerMessageId?: string | null;
  attempt?: number;
  reason?: ReceiptReason | null;
  /** Defaults to now. */
  occurredAt?: Date | string;
  deferredUntil?: Date | string;
  fallbackFrom?: Channel;
  trace?: TraceEntry[];
  correlation?: Record<string, string>;
  /**
   * Passed to receiptEventId. Needed when one message can yield several receipts with the same
   * status and attempt (e.g. `sent` on sms, then `sent` on email after a fallback): use the channel,
   * the provider's event id or the source record's offset.
   */
  discriminator?: string;
}

/** A receipt we built failed our own contract: a bug in the caller, not bad input from outside. */
export class InvalidReceiptError extends Error {
  override readonly name = 'InvalidReceiptError';

  constructor(readonly problems: ValidationProblem[]) {
    super(`invalid delivery receipt: ${summarizeProblems(problems)}`);
  }
}

function toIso(value: Date | string): string {
  return typeof value === 'string' ? value : value.toISOString();
}

/**
 * Fills schemaVersion, occurredAt and a deterministic eventId (the same receiptEventId a direct
 * call with messageId, status, attempt and discriminator gives), defaults the nullable fields to
 * null, attempt to 0 and trace to [], then validates. Throws InvalidReceiptError if the result
 * breaks the contract, so a bad receipt never reaches the topic.
 */
export function buildReceipt(
  input: BuildReceiptInput,
  options: { now?: () => Date } = {},
): DeliveryReceipt {
  const channel = input.channel ?? null;
  const attempt = input.attempt ?? 0;
  const candidate: DeliveryReceipt = {
    schemaVersion: DELIVERY_RECEIPT_SCHEMA_VERSION,
    eventId: receiptEventId({
      messageId: input.messageId,
      status: input.status,
      // A bad attempt is reported by the schema check below, as InvalidReceiptError, not here.
      attempt: Number.isSafeInteger(attempt) && attempt >= 0 ? attempt : 0,
      discriminator: input.discriminator,
    }),
    messageId: input.messageId,
    customerId: input.customerId,
    status: input.status,
    channel,
    provider: input.provider ?? null,
    providerMessageId: input.providerMessageId ?? null,
    attempt,
    reason: input.reason ?? null,
    occurredAt: toIso(input.occurredAt ?? (options.now ?? (() => new Date()))()),
    ...(input.deferredUntil !== undefined && { deferredUntil: toIso(input.deferredUntil) }),
    ...(input.fallbackFrom !== undefined && { fallbackFrom: input.fallbackFrom }),
    trace: input.trace ?? [],
    ...(input.correlation !== undefined && { correlation: input.correlation }),
  };
  const result = deliveryReceiptSchema.safeParse(candidate, { error: plainErrorMap });
  if (!result.success) throw new InvalidReceiptError(toProblems(result.error));
  return result.data;
}
