import { randomUUID } from 'node:crypto';

/** A valid send command with the given overrides; ids are unique per call. */
export function sendCommand(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 1,
    id: `cmd-${randomUUID()}`,
    customerId: `cust-${randomUUID().slice(0, 8)}`,
    category: 'order_updates',
    priority: 'normal',
    recipient: { phone: '+14155550142', whatsapp: '+14155550142', email: 'li.wei@example.com' },
    ...overrides,
  };
}
