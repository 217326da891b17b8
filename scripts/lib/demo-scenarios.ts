/**
 * The demo's customer profiles and the commands that show the planner at work: a frequency cap
 * that moves marketing from SMS to email, an SMS opt-out, quiet hours that defer a message, a
 * bounced mailbox, a cancelled cart reminder and an appointment reminder that escalates.
 */
import { randomUUID } from 'node:crypto';
import { customerId } from './workload';

export interface ScenarioRecord {
  readonly key: string;
  readonly value: string;
}

export interface Scenarios {
  readonly profiles: ScenarioRecord[];
  readonly commands: ScenarioRecord[];
  /** Command ids whose traces the demo prints, with what each shows. */
  readonly highlights: Array<{ readonly messageId: string; readonly shows: string }>;
  /** A mailbox the sandbox bounces, and the follow-up email the gateway should suppress. */
  readonly bounce: {
    readonly address: string;
    readonly firstMessageId: string;
    /** Published once the bounce was reported: the gateway should skip it as suppressed. */
    readonly followUp: ScenarioRecord & { readonly messageId: string };
  };
  /**
   * A cart reminder that quiet hours defer, and the CancelCommand (the cart was bought) that the
   * demo publishes once the reminder is waiting.
   */
  readonly cartReminder: { readonly messageId: string; readonly cancel: ScenarioRecord };
  /**
   * An appointment reminder by SMS to a number the sandbox's carrier reports undelivered: with no
   * delivered report in the escalation window, the gateway sends it again by email.
   */
  readonly escalation: { readonly messageId: string; readonly phone: string };
}

const consentAll = ['sms', 'email', 'whatsapp', 'mobilepush', 'webpush'].map((channel) => ({
  channel,
  granted: true,
  source: 'signup-form',
  at: '2026-01-01T00:00:00Z',
}));

/** A quiet-hours window around the current hour in the given zone, so the demo always hits it. */
function quietWindowAroundNow(timeZone: string, now: Date): { start: string; end: string } {
  const hour = Number(
    new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(now),
  );
  const pad = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
  return { start: pad(hour - 1), end: pad(hour + 2) };
}

export function buildScenarios(runId: string, firstCustomer: number, now: Date): Scenarios {
  const profiles: ScenarioRecord[] = [];
  const commands: ScenarioRecord[] = [];
  const highlights: Scenarios['highlights'] = [];
  const profile = (index: number, fields: Record<string, unknown>): void => {
    const id = customerId(index);
    const event = {
      type: 'upsert',
      customerId: id,
      version: Date.now(),
      occurredAt: now.toISOString(),
      profile: {
        phones: [{ value: `+1415556${String(index % 10000).padStart(4, '0')}`, verified: true }],
        emails: [{ value: `customer${index}@example.com` }],
        consents: consentAll,
        timeZone: 'Europe/Berlin',
        ...fields,
      },
    };
    profiles.push({ key: id, value: JSON.stringify(event) });
  };
  const marketing = (index: number, label: string): string => {
    const id = `${runId}-${label}-${randomUUID().slice(0, 8)}`;
    const command = {
      id,
      customerId: customerId(index),
      category: 'marketing',
      content: {
        sms: { text: 'Winter sale: 20% off everything this weekend.' },
        email: {
          subject: 'Winter sale',
          text: 'Winter sale: 20% off everything this weekend.',
          html: '<p>Winter sale: <b>20% off</b> everything this weekend.</p>',
        },
      },
    };
    commands.push({ key: customerId(index), value: JSON.stringify(command) });
    return id;
  };

  // Five customers who prefer SMS get five marketing messages each: the default rule allows
  // three marketing SMS a day, so the fourth and fifth fall back to email.
  for (let i = 0; i < 5; i += 1) {
    const index = firstCustomer + i;
    profile(index, { preferredChannels: ['sms', 'email'] });
    for (let n = 1; n <= 5; n += 1) {
      const id = marketing(index, `cap${n}`);
      if (i === 0 && n === 4)
        highlights.push({
          messageId: id,
          shows: 'a frequency cap moving marketing from SMS to email',
        });
    }
  }
  // Three customers opted out of SMS: their marketing goes by email.
  for (let i = 5; i < 8; i += 1) {
    const index = firstCustomer + i;
    profile(index, {
      preferredChannels: ['sms', 'email'],
      channelPreferences: { '*': { sms: false } },
    });
    const id = marketing(index, 'optout');
    if (i === 5) highlights.push({ messageId: id, shows: 'an SMS opt-out' });
  }
  // Two customers are inside their quiet hours right now: marketing waits in the scheduler.
  for (let i = 8; i < 10; i += 1) {
    const index = firstCustomer + i;
    profile(index, {
      preferredChannels: ['email'],
      timeZone: 'America/New_York',
      quietHours: quietWindowAroundNow('America/New_York', now),
    });
    const id = marketing(index, 'quiet');
    if (i === 8) highlights.push({ messageId: id, shows: 'quiet hours deferring a message' });
  }
  // One customer's mailbox bounces hard: the sandbox reports it, the gateway suppresses email for
  // the address, and a second email to the customer is skipped with the reason.
  const bounceIndex = firstCustomer + 10;
  const bounceAddress = `customer${bounceIndex}@example.com`;
  profile(bounceIndex, { preferredChannels: ['email'] });
  const orderEmail = (label: string) => {
    const id = `${runId}-${label}-${randomUUID().slice(0, 8)}`;
    const command = {
      id,
      customerId: customerId(bounceIndex),
      category: 'order_updates',
      channels: ['email'],
      content: { email: { subject: 'Your order', text: 'Your order has shipped.' } },
    };
    return { key: customerId(bounceIndex), value: JSON.stringify(command), messageId: id };
  };
  const first = orderEmail('bounce');
  commands.push({ key: first.key, value: first.value });
  highlights.push({ messageId: first.messageId, shows: 'an email to a mailbox that bounces' });
  const followUp = orderEmail('suppressed');
  // The last quiet-hours customer also has a cart reminder waiting; the cart is bought meanwhile.
  const cartCustomer = customerId(firstCustomer + 9);
  const groupKey = `cart-${runId}`;
  const reminderId = `${runId}-cart-${randomUUID().slice(0, 8)}`;
  commands.push({
    key: cartCustomer,
    value: JSON.stringify({
      id: reminderId,
      customerId: cartCustomer,
      category: 'cart_reminders',
      groupKey,
      channels: ['email'],
      content: { email: { subject: 'Your cart', text: 'You left something in your cart.' } },
    }),
  });
  const cancel = {
    cancelId: `${runId}-cart-bought`,
    customerId: cartCustomer,
    groupKey,
    reason: { code: 'CART_PURCHASED', message: 'the customer bought the cart' },
    requestedBy: 'demo-checkout',
    requestedAt: now.toISOString(),
  };
  // An appointment reminder whose SMS the carrier never delivers: it escalates to email.
  const escalationIndex = firstCustomer + 11;
  profile(escalationIndex, { preferredChannels: ['sms'] });
  const escalationId = `${runId}-appointment-${randomUUID().slice(0, 8)}`;
  commands.push({
    key: customerId(escalationIndex),
    value: JSON.stringify({
      id: escalationId,
      customerId: customerId(escalationIndex),
      category: 'appointment_reminders',
      content: {
        sms: { text: 'Reminder: your appointment is tomorrow at 10:00.' },
        email: {
          subject: 'Your appointment',
          text: 'Reminder: your appointment is tomorrow at 10:00.',
        },
      },
    }),
  });
  return {
    profiles,
    commands,
    highlights,
    escalation: {
      messageId: escalationId,
      phone: `+1415556${String(escalationIndex % 10000).padStart(4, '0')}`,
    },
    bounce: { address: bounceAddress, firstMessageId: first.messageId, followUp },
    cartReminder: {
      messageId: reminderId,
      cancel: { key: cartCustomer, value: JSON.stringify(cancel) },
    },
  };
}
