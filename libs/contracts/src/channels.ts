import { z } from 'zod';

/** Every delivery channel the gateway knows. Order here is only a display order, not a preference. */
export const CHANNELS = ['sms', 'email', 'whatsapp', 'webpush', 'mobilepush'] as const;

export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
}

const EXPECTED = `expected one of ${CHANNELS.join(', ')}`;

/** Echoed values come from untrusted input, so keep them short in messages. */
function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

export const channelSchema = z.enum(CHANNELS, {
  // undefined falls through to the generic "is required" wording.
  error: (issue) => {
    if (issue.input === undefined) return undefined;
    return typeof issue.input === 'string'
      ? `unknown channel ${quote(issue.input)} (${EXPECTED})`
      : `must be a channel name (${EXPECTED})`;
  },
});
