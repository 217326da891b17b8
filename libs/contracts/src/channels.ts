import { z } from 'zod';

/** Every delivery channel the gateway knows. Order here is only a display order, not a preference. */
export const CHANNELS = ['sms', 'email', 'whatsapp', 'webpush', 'mobilepush'] as const;

export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
}

const EXPECTED = `expected one of ${CHANNELS.join(', ')}`;

export const channelSchema = z.enum(CHANNELS, {
  // undefined falls through to the generic "is required" wording.
  error: (issue) => {
    if (issue.input === undefined) return undefined;
    // The value is not quoted: reasons name fields and limits, never what the payload said.
    return typeof issue.input === 'string'
      ? `unknown channel (${EXPECTED})`
      : `must be a channel name (${EXPECTED})`;
  },
});
