import type { WebPushSubscription } from '@omnigate/contracts';
import type {
  ContactPoint,
  CustomerProfile,
  StoredFcmToken,
  StoredWebPushSubscription,
} from '../policy/model';
import type { ProfileDocument, SealedEntry, StoredContacts } from './database/types';
import { MessageSealer, SealedValueError } from './message-sealer';

/** The fields of a profile that hold contacts: sealed at rest, one value per entry. */
export type ContactField = keyof StoredContacts;
export type ProfileContacts = Pick<CustomerProfile, ContactField>;

/**
 * Seals the contacts of a stored profile (phone numbers, email addresses, WhatsApp numbers, web
 * push subscriptions, FCM tokens) with the message-log sealer, each value bound to its customer
 * and field, so a value copied onto another customer or into another field does not open. The
 * rest of an entry (verified, device, last seen) stays readable, as do preferences and consents.
 * Entries written before sealing are read as they are; every write seals.
 */
export class ProfileContactSealer {
  constructor(private readonly sealer: MessageSealer) {}

  /** The given contact fields, sealed for `customerId`; absent fields stay absent. */
  seal(customerId: string, contacts: Partial<ProfileContacts>): Partial<StoredContacts> {
    const point = (field: ContactField) => (entry: ContactPoint) => {
      const { value, ...rest } = entry;
      return { ...rest, sealed: this.sealer.seal(value, boundTo(customerId, field)) };
    };
    const { phones, emails, whatsapp, webPushSubscriptions, fcmTokens } = contacts;
    return {
      ...(phones && { phones: phones.map(point('phones')) }),
      ...(emails && { emails: emails.map(point('emails')) }),
      ...(whatsapp && { whatsapp: whatsapp.map(point('whatsapp')) }),
      ...(webPushSubscriptions && {
        webPushSubscriptions: webPushSubscriptions.map(({ subscription, ...rest }) => ({
          ...rest,
          sealed: this.sealer.seal(
            JSON.stringify(subscription),
            boundTo(customerId, 'webPushSubscriptions'),
          ),
        })),
      }),
      ...(fcmTokens && {
        fcmTokens: fcmTokens.map(({ token, ...rest }) => ({
          ...rest,
          sealed: this.sealer.seal(token, boundTo(customerId, 'fcmTokens')),
        })),
      }),
    };
  }

  /**
   * The contacts of a stored document, opened; a missing field reads as empty. Throws
   * SealedValueError when a sealed value does not open (its key is not configured, or it was
   * moved or altered): a contact is never silently left out.
   */
  open(customerId: string, document: ProfileDocument): ProfileContacts {
    const open = (field: ContactField, sealed: string): string => {
      try {
        return this.sealer.open(sealed, boundTo(customerId, field));
      } catch (error) {
        if (!(error instanceof SealedValueError)) throw error;
        throw new SealedValueError(
          `the ${field} of the profile of customer ${customerId} cannot be opened (${error.message}); ` +
            'MESSAGE_LOG_KEY or MESSAGE_LOG_PREVIOUS_KEYS must hold the key it was sealed with',
          { cause: error },
        );
      }
    };
    const point =
      (field: ContactField) =>
      (entry: ContactPoint | SealedEntry<ContactPoint, 'value'>): ContactPoint => {
        if (!('sealed' in entry)) return entry;
        const { sealed, ...rest } = entry;
        return { value: open(field, sealed), ...rest };
      };
    const subscription = (
      entry: StoredWebPushSubscription | SealedEntry<StoredWebPushSubscription, 'subscription'>,
    ): StoredWebPushSubscription => {
      if (!('sealed' in entry)) return entry;
      const { sealed, ...rest } = entry;
      // Authenticated: exactly the JSON this class sealed from a validated subscription.
      const opened = JSON.parse(open('webPushSubscriptions', sealed)) as WebPushSubscription;
      return { subscription: opened, ...rest };
    };
    const token = (
      entry: StoredFcmToken | SealedEntry<StoredFcmToken, 'token'>,
    ): StoredFcmToken => {
      if (!('sealed' in entry)) return entry;
      const { sealed, ...rest } = entry;
      return { token: open('fcmTokens', sealed), ...rest };
    };
    return {
      phones: (document.phones ?? []).map(point('phones')),
      emails: (document.emails ?? []).map(point('emails')),
      whatsapp: (document.whatsapp ?? []).map(point('whatsapp')),
      webPushSubscriptions: (document.webPushSubscriptions ?? []).map(subscription),
      fcmTokens: (document.fcmTokens ?? []).map(token),
    };
  }
}

/** Associated data: the customer and the field, unambiguous whatever the customer id holds. */
function boundTo(customerId: string, field: ContactField): string {
  return JSON.stringify(['customer-profile', customerId, field]);
}
