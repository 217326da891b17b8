import { z } from 'zod';
import { channelSchema, CHANNELS } from './channels';
import { isoDateTime } from './primitives';
import { E164_PATTERN, webPushSubscriptionSchema } from './send-command';

/**
 * ProfileEvent v1: what upstream services publish to the compacted profiles topic, keyed by
 * customerId. An upsert carries only the fields that change (each given field replaces the stored
 * one, except channelPreferences, which merges per category); a delete, or a record with no value
 * (a Kafka tombstone), removes the profile. `version` increases per customer; an event whose
 * version is not above the stored one is ignored, because compaction and retries redeliver.
 */
export const PROFILE_EVENT_SCHEMA_VERSION = 1;

const phone = z
  .string()
  .regex(E164_PATTERN, { error: 'must be an E.164 phone number like +14155550123' });
const time = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a 24-hour time like 22:00' });

/**
 * Zones already accepted. Building a DateTimeFormat loads ICU data and took a quarter of a
 * millisecond per profile event; the accepted names are a few hundred at most (unknown ones are
 * not kept, so a stream of made-up names cannot grow this).
 */
const knownZones = new Set<string>();

/** IANA zones known to this runtime's Intl data. */
const timeZone = z.string().refine(
  (zone) => {
    if (knownZones.has(zone)) return true;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
    } catch {
      return false;
    }
    knownZones.add(zone);
    return true;
  },
  { error: 'must be an IANA time zone like Europe/Berlin' },
);

const contactPoint = <T extends z.ZodType<string>>(value: T) =>
  z.strictObject({ value, verified: z.boolean().optional(), lastSeenAt: isoDateTime().optional() });

const channelFlags = z.partialRecord(channelSchema, z.boolean());

export const profilePatchSchema = z.strictObject({
  phones: z.array(contactPoint(phone)).max(10).optional(),
  emails: z
    .array(contactPoint(z.email({ error: 'must be a valid email address' })))
    .max(10)
    .optional(),
  whatsapp: z.array(contactPoint(phone)).max(10).optional(),
  webPushSubscriptions: z
    .array(
      z.strictObject({
        subscription: webPushSubscriptionSchema,
        device: z.string().max(128).optional(),
        lastSeenAt: isoDateTime().optional(),
      }),
    )
    .max(20)
    .optional(),
  fcmTokens: z
    .array(
      z.strictObject({
        token: z.string().min(1).max(4096),
        device: z.string().max(128).optional(),
        platform: z.enum(['android', 'ios', 'web']).optional(),
        lastSeenAt: isoDateTime().optional(),
      }),
    )
    .max(20)
    .optional(),
  preferredChannels: z.array(channelSchema).max(CHANNELS.length).optional(),
  channelPreferences: z.record(z.string().min(1).max(64), channelFlags).optional(),
  consents: z
    .array(
      z.strictObject({
        channel: channelSchema,
        category: z.string().min(1).max(64).optional(),
        granted: z.boolean(),
        source: z.string().min(1).max(128),
        at: isoDateTime(),
      }),
    )
    .max(200)
    .optional(),
  timeZone: timeZone.optional(),
  locale: z
    .string()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, { error: 'must be a BCP 47 locale like pt-BR' })
    .optional(),
  quietHours: z.strictObject({ start: time, end: time }).nullable().optional(),
});
export type ProfilePatch = z.infer<typeof profilePatchSchema>;

export const profileEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    schemaVersion: z.literal(PROFILE_EVENT_SCHEMA_VERSION).default(PROFILE_EVENT_SCHEMA_VERSION),
    type: z.literal('upsert'),
    customerId: z.string().min(1).max(128),
    version: z.int().nonnegative(),
    occurredAt: isoDateTime(),
    profile: profilePatchSchema,
  }),
  z.strictObject({
    schemaVersion: z.literal(PROFILE_EVENT_SCHEMA_VERSION).default(PROFILE_EVENT_SCHEMA_VERSION),
    type: z.literal('delete'),
    customerId: z.string().min(1).max(128),
    version: z.int().nonnegative(),
    occurredAt: isoDateTime(),
  }),
]);
export type ProfileEvent = z.output<typeof profileEventSchema>;
