/**
 * Receipt statuses describe the message as a whole, not one channel attempt: a channel that fails
 * and is followed by a fallback shows up in `trace` and in the next receipt's `fallbackFrom`, not
 * as a `failed` receipt.
 */
export const RECEIPT_STATUSES = [
  'accepted', // passed validation and was queued for dispatch
  'sent', // handed to a provider; the provider's outcome is still to come
  'delivered', // the provider confirmed delivery to the device or mailbox
  'read', // the recipient opened it (channels that report reads)
  'failed', // every allowed channel was tried or ruled out, and none worked
  'bounced', // the provider accepted it but the address turned out to be undeliverable
  'suppressed', // not sent on purpose: opt-out, block list or consent rules
  'capped', // not sent: a frequency cap for this customer/category was reached
  'deferred', // held back and retried later (see deferredUntil)
  'expired', // its ttlSeconds/expiresAt passed before it could be sent
  'rejected', // the command itself was invalid or unreadable
  'duplicate', // a command with this id was already processed; this copy is ignored
  'unknown', // the provider reported something that maps to none of the above
  // Added after v1 was published, at the end: readers must tolerate statuses they do not know.
  'cancelled', // withdrawn by a CancelCommand (or an admin) before it was handed to a provider
] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/**
 * Terminal = the gateway will do nothing more for this message: no retry, no fallback, no further
 * dispatch. Consumers can stop waiting once they see one.
 *
 * - `sent` is not terminal: the gateway still expects the provider's outcome, and a failure
 *   reported then may still trigger a fallback channel.
 * - `accepted`, `deferred` and `unknown` are not terminal: work or information is still pending.
 * - `delivered` is terminal even though a later `read` (or, for email, a late `bounced`) may still
 *   arrive: those are provider reports the gateway relays, not work it does. So "terminal" means
 *   "settled", not "last receipt ever".
 * - `duplicate` is terminal for the duplicate submission only; the original keeps its own history
 *   under the same messageId.
 */
export const TERMINAL_STATUSES = [
  'delivered',
  'read',
  'failed',
  'bounced',
  'suppressed',
  'capped',
  'expired',
  'rejected',
  'duplicate',
  'cancelled',
] as const satisfies readonly ReceiptStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminalStatus(status: ReceiptStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly ReceiptStatus[]).includes(status);
}
