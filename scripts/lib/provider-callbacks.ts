/**
 * The providers' half of a webhook call, for the tests and the webhook benchmark: bodies signed the
 * way Twilio and SendGrid sign them. Twilio's signature comes from the twilio package's own helper;
 * SendGrid's is ECDSA P-256 (SHA-256, DER, base64) over timestamp + body, which is what SendGrid
 * does and what @sendgrid/eventwebhook checks on the gateway's side.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import twilio from 'twilio';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

export interface SignedCallback {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** A form-encoded Twilio webhook for `publicUrl` (base + path + query, as Twilio called it). */
export function signedTwilioCallback(
  authToken: string,
  publicUrl: string,
  params: Readonly<Record<string, string>>,
): SignedCallback {
  return {
    body: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      [TWILIO_SIGNATURE_HEADER]: twilio.getExpectedTwilioSignature(authToken, publicUrl, {
        ...params,
      }),
    },
  };
}

/** A SendGrid-style signing key pair; `publicKeyBase64` is what SendGrid shows (base64 DER). */
export function sendGridSigningKeys(): { privateKey: KeyObject; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/**
 * A signed Event Webhook request: `events` is normally the batch array (anything else tests the
 * gateway's parsing); `timestamp` is epoch seconds (default now).
 */
export function signedSendGridBatch(
  privateKey: KeyObject,
  events: unknown,
  timestamp = Math.floor(Date.now() / 1000),
): SignedCallback {
  const body = JSON.stringify(events);
  const signature = sign('sha256', Buffer.from(`${timestamp}${body}`), privateKey).toString(
    'base64',
  );
  return {
    body,
    headers: {
      'content-type': 'application/json',
      [SENDGRID_SIGNATURE_HEADER]: signature,
      [SENDGRID_TIMESTAMP_HEADER]: String(timestamp),
    },
  };
}

/** A Twilio message sid: SM + 32 hex digits. */
export function twilioSid(n: number, prefix = 'SM'): string {
  return `${prefix}${n.toString(16).padStart(32, '0')}`;
}
