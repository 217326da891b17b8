import { z } from 'zod';
import { CHANNELS, channelSchema, isChannel } from './channels';
import {
  isStorableText,
  isoDateTime,
  jsonValueSchema,
  stringRecord,
  unlessMissing,
} from './primitives';
import { checkPushEndpoint, MAX_PUSH_ENDPOINT_LENGTH } from './push-endpoint';

/**
 * SendCommand v1: what an upstream producer puts on the send topic, or on the priority lane topic
 * for OTP and transactional commands (DEFAULT_TOPICS). The topic picks the lane; `priority` only
 * reaches the providers (push urgency). Nested objects are strict as well as the top level, because
 * a misspelt optional field (`recipient.emial`) would otherwise be dropped silently and the message
 * would go nowhere.
 *
 * Strings are never trimmed or normalised: text in any script, emoji and RTL marks must reach the
 * provider exactly as the producer wrote it. Length limits count UTF-16 code units (JS `length`).
 */

export const SEND_COMMAND_SCHEMA_VERSION = 1;

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** 30 days: longer than any provider keeps a message queued, so a larger value is a mistake. */
export const MAX_TTL_SECONDS = 30 * 24 * 60 * 60;

export const COMMAND_ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
export const CATEGORY_PATTERN = /^[a-z0-9]+(?:[_-][a-z0-9]+)*$/;
/** The same lowercase slug as a category: a journey's key such as `cart-8812`. */
export const GROUP_KEY_PATTERN = CATEGORY_PATTERN;
/** E.164: `+`, then 8 to 15 digits, the first of which (the country code) is never 0. */
export const E164_PATTERN = /^\+[1-9][0-9]{7,14}$/;
/** BCP 47 subset: language, optional script, optional region, optional variants (`zh-Hant-TW`). */
export const LOCALE_PATTERN =
  /^[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$/;
/** WhatsApp template languages use an underscore (`en_US`, `pt_BR`), not BCP 47. */
const WHATSAPP_LANGUAGE_PATTERN = /^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$/;

const e164Phone = () =>
  z.string().regex(E164_PATTERN, { error: 'must be an E.164 phone number like +14155550123' });

// The `pattern` metadata mirrors the protocol rule in JSON Schema, where `format: uri` allows any.
// https only: a device opens or loads these links, and a plain http one can be rewritten on the way.
const httpsUrl = () =>
  z
    .url({ protocol: /^https$/, error: unlessMissing('must be an https:// URL') })
    .max(2048)
    .meta({ pattern: '^https://' });

/** C0 controls, DEL and C1 controls: a line break in a subject would be a header break. */
function hasLineControl(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** A one-line field: a subject or a title. */
const oneLine = (max: number) =>
  nonEmpty(max).refine((text) => !hasLineControl(text), {
    error: 'must not contain control characters such as line breaks',
  });

const base64Url = () =>
  z
    .base64url({
      error: unlessMissing('must be a base64url string (A-Z, a-z, 0-9, "-" and "_", no padding)'),
    })
    .min(1)
    .max(512);

const nonEmpty = (max: number) => z.string().min(1).max(max);

// ---------------------------------------------------------------------------------------------
// Recipient

export const webPushSubscriptionSchema = z.strictObject({
  endpoint: z
    .url({
      protocol: /^https$/,
      error: unlessMissing('must be an https:// URL (the push service endpoint)'),
      // One problem per endpoint: a refused URL is not also checked for its host.
      abort: true,
    })
    .max(MAX_PUSH_ENDPOINT_LENGTH)
    // The gateway calls this URL: its host must read the same to every URL parser (push-endpoint.ts).
    .superRefine((endpoint, ctx) => {
      const checked = checkPushEndpoint(endpoint);
      if (!checked.ok) ctx.addIssue({ code: 'custom', message: checked.problem });
    })
    .meta({ pattern: '^https://' }),
  keys: z.strictObject({ p256dh: base64Url(), auth: base64Url() }),
  // Browsers' PushSubscription.toJSON() emits null here when the subscription never expires.
  expirationTime: z.number().nullable().optional(),
});
export type WebPushSubscription = z.infer<typeof webPushSubscriptionSchema>;

export const recipientSchema = z.strictObject({
  phone: e164Phone().optional(),
  email: z
    .email({ error: unlessMissing('must be a valid email address') })
    .max(320)
    .optional(),
  whatsapp: e164Phone().optional(),
  webPushSubscriptions: z.array(webPushSubscriptionSchema).max(20).optional(),
  fcmTokens: z.array(nonEmpty(4096)).max(20).optional(),
});
export type Recipient = z.infer<typeof recipientSchema>;

// ---------------------------------------------------------------------------------------------
// Inline content, one optional entry per channel

export const smsContentSchema = z.strictObject({ text: nonEmpty(1600) });

export const whatsappContentSchema = z.xor(
  [
    z.strictObject({ text: nonEmpty(4096) }),
    z.strictObject({
      template: z.strictObject({
        name: nonEmpty(512),
        language: z.string().regex(WHATSAPP_LANGUAGE_PATTERN, {
          error: 'must be a language code like "en" or "en_US"',
        }),
        variables: stringRecord({
          maxEntries: 100,
          maxKeyLength: 64,
          maxValueLength: 1024,
        }).optional(),
      }),
    }),
  ],
  { error: 'must contain either text or template (exactly one of them)' },
);

export const emailContentSchema = z
  .strictObject({
    subject: oneLine(998),
    html: z.string().min(1).optional(),
    text: z.string().min(1).optional(),
  })
  .refine((email) => email.html !== undefined || email.text !== undefined, {
    error: 'must contain html, text or both',
  })
  // The refine above is invisible to JSON Schema, so state the same rule there.
  .meta({ anyOf: [{ required: ['html'] }, { required: ['text'] }] });

export const webpushContentSchema = z.strictObject({
  title: oneLine(256),
  body: nonEmpty(4096),
  url: httpsUrl().optional(),
  icon: httpsUrl().optional(),
});

export const mobilepushContentSchema = z.strictObject({
  title: oneLine(256),
  body: nonEmpty(4096),
  imageUrl: httpsUrl().optional(),
  data: stringRecord({ maxEntries: 50, maxKeyLength: 128, maxValueLength: 1024 }).optional(),
});

export const contentSchema = z
  .strictObject({
    sms: smsContentSchema.optional(),
    whatsapp: whatsappContentSchema.optional(),
    email: emailContentSchema.optional(),
    webpush: webpushContentSchema.optional(),
    mobilepush: mobilepushContentSchema.optional(),
  })
  .refine((content) => CHANNELS.some((channel) => content[channel] !== undefined), {
    error: 'must contain content for at least one channel',
  })
  .meta({ minProperties: 1 });
export type SendCommandContent = z.infer<typeof contentSchema>;

// ---------------------------------------------------------------------------------------------
// Stored template reference

export const templateRefSchema = z.strictObject({
  id: nonEmpty(128),
  locale: z
    .string()
    .max(35)
    .regex(LOCALE_PATTERN, { error: 'must be a BCP 47 language tag like "en" or "zh-TW"' })
    .optional(),
  data: z
    .record(z.string().min(1).max(128), jsonValueSchema)
    .optional()
    .describe('Values substituted into the template; any JSON.'),
});
export type TemplateRef = z.infer<typeof templateRefSchema>;

// ---------------------------------------------------------------------------------------------
// The command

const channelListSchema = z
  .array(channelSchema)
  .min(1)
  .max(CHANNELS.length)
  .superRefine((channels, ctx) => {
    channels.forEach((channel, index) => {
      if (channels.indexOf(channel) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `"${channel}" is listed more than once`,
        });
      }
    });
  })
  .meta({ uniqueItems: true });

const sendCommandObject = z.strictObject({
  schemaVersion: z
    .literal(SEND_COMMAND_SCHEMA_VERSION, {
      error: (issue) =>
        issue.input === undefined
          ? undefined
          : `must be ${SEND_COMMAND_SCHEMA_VERSION} (this gateway reads SendCommand v1)`,
    })
    .default(SEND_COMMAND_SCHEMA_VERSION),
  id: z
    .string()
    // abort: an empty value is one problem, not also a pattern mismatch.
    .min(1, { abort: true })
    .max(128)
    .regex(COMMAND_ID_PATTERN, {
      error: 'must use only letters, digits, ".", "_", ":" and "-"',
    })
    .describe('Idempotency key: a command with an id already seen is reported as a duplicate.'),
  customerId: nonEmpty(128).refine(isStorableText, {
    error: 'must not contain control characters or unpaired surrogates',
  }),
  category: z.string().min(1, { abort: true }).max(64).regex(CATEGORY_PATTERN, {
    error: 'must be a lowercase slug like "order_updates" (a-z, 0-9, "_" or "-")',
  }),
  priority: z
    .enum(PRIORITIES, {
      error: (issue) =>
        issue.input === undefined ? undefined : `must be one of ${PRIORITIES.join(', ')}`,
    })
    .default('normal'),
  channels: channelListSchema
    .optional()
    .describe('Channels to try, most preferred first. Omit to let the gateway choose.'),
  recipient: recipientSchema
    .optional()
    .describe(
      'Contacts for this message, merged over the stored customer profile: per channel, the command wins.',
    ),
  content: contentSchema.optional(),
  template: templateRefSchema.optional(),
  groupKey: z
    .string()
    .min(1, { abort: true })
    .max(128)
    .regex(GROUP_KEY_PATTERN, {
      error: 'must be a lowercase slug like "cart-8812" (a-z, 0-9, "_" or "-")',
    })
    .optional()
    .describe(
      "Groups this customer's messages of one journey (a cart, an appointment), so one CancelCommand withdraws all of them.",
    ),
  ttlSeconds: z.int().positive().max(MAX_TTL_SECONDS).optional(),
  expiresAt: isoDateTime().optional(),
  createdAt: isoDateTime().optional(),
  metadata: stringRecord({ maxEntries: 50, maxKeyLength: 128, maxValueLength: 512 }).optional(),
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const sendCommandSchema = sendCommandObject
  .superRefine(
    (command, ctx) => {
      // Read defensively: this also runs when some fields failed (see `when`), so that every
      // problem is reported in one go, and then those fields may hold anything.
      const raw: Record<string, unknown> = command;
      const hasContent = raw.content !== undefined;
      const hasTemplate = raw.template !== undefined;
      if (hasContent && hasTemplate) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: 'must contain either content or template, not both',
        });
      } else if (!hasContent && !hasTemplate) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message:
            'must contain either content (inline text per channel) or template (a stored template id)',
        });
      }
      if (raw.ttlSeconds !== undefined && raw.expiresAt !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: 'must set either ttlSeconds or expiresAt, not both',
        });
      }
      if (hasContent && !hasTemplate && isRecord(raw.content) && Array.isArray(raw.channels)) {
        const content = raw.content;
        for (const channel of raw.channels) {
          if (isChannel(channel) && content[channel] === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['content'],
              message: `channels lists ${channel} but content.${channel} is missing`,
            });
          }
        }
      }
    },
    { when: (payload) => isRecord(payload.value) },
  )
  // JSON Schema cannot see the refinement above; spell out the structural parts of it.
  .meta({
    oneOf: [{ required: ['content'] }, { required: ['template'] }],
    not: { required: ['ttlSeconds', 'expiresAt'] },
  });

/** A validated command, with defaults (schemaVersion, priority) filled in. */
export type SendCommand = z.output<typeof sendCommandSchema>;
/** What a producer may send: defaulted fields are optional. */
export type SendCommandInput = z.input<typeof sendCommandSchema>;
