import type { Recipient } from '@omnigate/contracts';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { AdminRole } from './auth/roles';
import type { CustomerProfile } from '../policy/model';

/*
 * Contact masking for the admin API. Viewers and agents see just enough to tell a customer's
 * contacts apart and confirm one on the phone ("the UK number ending 42"), never enough to write
 * to them or to match them against a list; admins see them whole.
 */

const DOTS = '•••';
const DOT = '•';

/**
 * The country calling code and the last two digits: `+44 ••••••••42`. The area code is hidden
 * too, since with it four digits narrow a number to a handful of people.
 */
export function maskPhone(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone);
  const digits = phone.replace(/\D/g, '');
  if (!parsed || digits.length < 6) return DOTS;
  const national = String(parsed.nationalNumber);
  return `+${parsed.countryCallingCode} ${DOT.repeat(Math.max(national.length - 2, 3))}${national.slice(-2)}`;
}

/**
 * The first character of the mailbox and of the domain, and the top-level domain:
 * `l•••@e•••.com`. A whole domain can name the customer's employer; the first letters still tell
 * gmail from outlook when confirming an address with the customer.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return DOTS;
  const domain = email.slice(at + 1);
  const dot = domain.lastIndexOf('.');
  const maskedDomain = dot < 1 ? DOTS : `${domain.slice(0, 1)}${DOTS}${domain.slice(dot)}`;
  return `${email.slice(0, 1)}${DOTS}@${maskedDomain}`;
}

/** Push tokens are bearer credentials for the device: keep a few characters to tell them apart. */
export function maskToken(token: string): string {
  if (token.length <= 10) return DOTS;
  return `${token.slice(0, 6)}${DOTS}${token.slice(-4)}`;
}

/** A web push endpoint keeps its push service's origin; the path is the subscription's secret. */
export function maskEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.origin}/${DOTS}${endpoint.slice(-4)}`;
  } catch {
    return maskToken(endpoint);
  }
}

export function shouldMask(role: AdminRole): boolean {
  return role !== 'admin';
}

type Subscription = CustomerProfile['webPushSubscriptions'][number]['subscription'];

function maskSubscription(subscription: Subscription): Subscription {
  return {
    ...subscription,
    endpoint: maskEndpoint(subscription.endpoint),
    keys: { p256dh: DOTS, auth: DOTS },
  };
}

export function maskProfile(profile: CustomerProfile, role: AdminRole): CustomerProfile {
  if (!shouldMask(role)) return profile;
  return {
    ...profile,
    phones: profile.phones.map((p) => ({ ...p, value: maskPhone(p.value) })),
    whatsapp: profile.whatsapp.map((p) => ({ ...p, value: maskPhone(p.value) })),
    emails: profile.emails.map((p) => ({ ...p, value: maskEmail(p.value) })),
    fcmTokens: profile.fcmTokens.map((t) => ({ ...t, token: maskToken(t.token) })),
    webPushSubscriptions: profile.webPushSubscriptions.map((s) => ({
      ...s,
      subscription: maskSubscription(s.subscription),
    })),
  };
}

export function maskRecipient(recipient: Recipient, role: AdminRole): Recipient {
  if (!shouldMask(role)) return recipient;
  return {
    ...(recipient.phone !== undefined && { phone: maskPhone(recipient.phone) }),
    ...(recipient.whatsapp !== undefined && { whatsapp: maskPhone(recipient.whatsapp) }),
    ...(recipient.email !== undefined && { email: maskEmail(recipient.email) }),
    ...(recipient.fcmTokens !== undefined && { fcmTokens: recipient.fcmTokens.map(maskToken) }),
    ...(recipient.webPushSubscriptions !== undefined && {
      webPushSubscriptions: recipient.webPushSubscriptions.map(maskSubscription),
    }),
  };
}
