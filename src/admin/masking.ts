import type { Recipient } from '@omnigate/contracts';
import type { AdminRole } from './auth/roles';
import type { CustomerProfile } from '../services/policy/model';

/*
 * Contact masking for the admin API. Viewers and agents see enough to tell contacts apart and
 * confirm one with a customer on the phone (+1415•••0142, l•••@example.com), never enough to
 * write to them; admins see them whole.
 */

const DOTS = '•••';

export function maskPhone(phone: string): string {
  if (phone.length <= 6) return `${phone.slice(0, 1)}${DOTS}`;
  const head = phone.length >= 11 ? 5 : 3;
  return `${phone.slice(0, head)}${DOTS}${phone.slice(-4)}`;
}

export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return `${email.slice(0, 1)}${DOTS}`;
  return `${email.slice(0, 1)}${DOTS}${email.slice(at)}`;
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
