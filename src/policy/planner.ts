import type { Channel, SendCommand, TraceEntry } from '@omnigate/contracts';
import { resolveContact, type ContactSource } from './contact-merge';
import type {
  CategoryPolicy,
  ChannelCandidate,
  ConsentRecord,
  CustomerProfile,
  PlanInput,
  PlanResult,
  SkipReason,
  Suppression,
} from './model';
import { checkQuietHours, type QuietHoursCheck } from './quiet-hours';
import { scrubContacts } from './scrub-contacts';

/*
 * The planner: for one send command, which channels may carry it and in what order. Pure: it reads
 * only its input (the clock arrives as `now`), so the same input always gives the same plan.
 *
 * Documented merge rules
 *
 * 1. Expiry. expiresAt = command.expiresAt, else (command.createdAt ?? receivedAt) +
 *    (command.ttlSeconds ?? policy.ttlSeconds). If now >= expiresAt the result is `expired`, and
 *    each channel of the order (rule 2) gets a skipped entry with reason EXPIRED.
 * 2. Channel order. command.channels when given; else the profile's preferredChannels (when not
 *    empty) followed by the policy's fallbackChain entries not already listed; else the policy's
 *    fallbackChain. Each channel is considered once (later repeats are dropped).
 * 3. Each channel, in that order, is skipped for the first reason that applies:
 *      NOT_ALLOWED_FOR_CATEGORY  not in policy.allowedChannels;
 *      OPTED_OUT                 channelPreferences[category][channel] is false, or, when the
 *                                category says nothing for the channel, ["*"][channel] is false.
 *                                Only when policy.optOutAllowed: for a required category the
 *                                opt-out does not apply and the chosen entry says so;
 *                                nor when input.overrides.ignoreOptOut (an audited admin
 *                                resend), and the chosen entry says so too;
 *      NO_CONSENT                policy.requiresConsent and the deciding consent record for the
 *                                channel is missing or not granted. The latest record for the
 *                                command's category beats the latest general one (no category),
 *                                except that a general withdrawal newer than it wins (a STOP
 *                                covers every category); on equal `at` the later one listed
 *                                wins; records for other categories are ignored;
 *      NO_CONTACT                no address after the contact merge (rule 4);
 *      SUPPRESSED                capabilities.suppression says the address may not receive the
 *                                channel for this category: the customer replied STOP, the mailbox
 *                                bounced hard, the customer reported spam, the push subscription
 *                                or token is gone (every category: the provider would refuse
 *                                anyway, e.g. Twilio error 21610 after STOP), or the customer
 *                                unsubscribed (like an opt-out: only when policy.optOutAllowed and
 *                                no admin override; the chosen entry says when it was set aside);
 *      NO_CONTENT                !capabilities.hasContent(channel);
 *      NO_PROVIDER               !capabilities.isSupported(channel).
 *    Otherwise the channel is chosen.
 * 4. Contact merge (contact-merge.ts). Per channel, the command's recipient wins (phone for sms,
 *    whatsapp, email, the first web push subscription as JSON, the first FCM token); else the
 *    profile's: phones / whatsapp / emails prefer verified, then the latest lastSeenAt, then the
 *    first listed; FCM tokens and web push subscriptions the latest lastSeenAt, then the first.
 *    WhatsApp uses only WhatsApp numbers, never the phone list.
 * 5. Quiet hours (quiet-hours.ts), checked only when at least one channel was chosen (a message
 *    no channel can carry is reported as such now rather than deferred). When the profile has
 *    quiet hours and policy.quietHours is not 'ignore', `now` is read in profile.timeZone (an
 *    unknown zone is read as UTC, and the trace says so). The window is [start, end); end < start
 *    crosses midnight. Inside the window every chosen channel becomes a skipped entry with reason
 *    QUIET_HOURS, and:
 *      'defer' → `defer` until the next local `end` (a skipped local time resolves to the instant
 *                the clocks jump, a repeated one to the earlier instant), or `expired` when that
 *                is at or after expiresAt;
 *      'drop'  → `suppress` with reason QUIET_HOURS.
 *    Transactional categories follow policy.quietHours like any other (their policy says
 *    'ignore'). An unreadable window is not applied, and the chosen entries say so.
 * 6. Results. At least one chosen channel → `send` with the candidates in order, expiresAt and
 *    locale = command.template.locale ?? profile.locale. None chosen: when every considered
 *    channel was skipped for OPTED_OUT, NO_CONSENT or SUPPRESSED → `suppress` with OPTED_OUT
 *    (NO_CONSENT when all of them were consent, SUPPRESSED when all were suppressed); otherwise
 *    (including no channel to consider) `undeliverable`.
 * 7. Trace. One entry per channel considered, in order, each with at = now.toISOString(). At most
 *    one entry per channel, so the trace stays far below the receipt's limit of 100 entries.
 *    Details never contain the address itself: receipts travel further than the profile does.
 */

const CHANNEL_NAMES: Readonly<Record<Channel, string>> = {
  sms: 'SMS',
  email: 'email',
  whatsapp: 'WhatsApp',
  webpush: 'web push',
  mobilepush: 'mobile push',
};

const CONTACT_NAMES: Readonly<Record<Channel, string>> = {
  sms: 'phone number',
  email: 'email address',
  whatsapp: 'WhatsApp number',
  webpush: 'web push subscription',
  mobilepush: 'mobile push token',
};

/** Stored strings echoed into a detail are cut short: a detail may hold at most 1024 characters. */
function clip(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}

/** What was decided for one channel before quiet hours are applied. */
type Consideration =
  | { readonly channel: Channel; readonly skip: SkipReason; readonly detail: string }
  | {
      readonly channel: Channel;
      readonly skip?: undefined;
      readonly detail: string;
      readonly address: string;
    };

function computeExpiry(command: SendCommand, policy: CategoryPolicy, receivedAt: Date): Date {
  if (command.expiresAt !== undefined) return new Date(command.expiresAt);
  const start = command.createdAt !== undefined ? new Date(command.createdAt) : receivedAt;
  const ttlSeconds = command.ttlSeconds ?? policy.ttlSeconds;
  return new Date(start.getTime() + ttlSeconds * 1000);
}

export function channelOrder(
  command: SendCommand,
  profile: CustomerProfile | null,
  policy: CategoryPolicy,
): Channel[] {
  let order: readonly Channel[];
  if (command.channels !== undefined) order = command.channels;
  else if (profile !== null && profile.preferredChannels.length > 0)
    order = [...profile.preferredChannels, ...policy.fallbackChain];
  else order = policy.fallbackChain;
  // A Set keeps first occurrences in order, which is exactly "not already listed".
  return [...new Set(order)];
}

function timeOf(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/**
 * The consent record that decides for this channel and category (see rule 3). A record for this
 * category beats a general one, with one exception in the safe direction: a general withdrawal
 * newer than the category record wins, because a STOP or "unsubscribe from everything" must
 * cover every category.
 */
export function decidingConsent(
  consents: readonly ConsentRecord[],
  channel: Channel,
  category: string,
): ConsentRecord | undefined {
  const latest = (records: readonly ConsentRecord[]): ConsentRecord | undefined =>
    records.reduce<ConsentRecord | undefined>(
      (best, record) =>
        best === undefined || timeOf(record.at) >= timeOf(best.at) ? record : best,
      undefined,
    );
  const forChannel = consents.filter((record) => record.channel === channel);
  const specific = latest(forChannel.filter((record) => record.category === category));
  const general = latest(forChannel.filter((record) => record.category === undefined));
  if (specific === undefined) return general;
  if (general !== undefined && !general.granted && timeOf(general.at) > timeOf(specific.at)) {
    return general;
  }
  return specific;
}

/** The customer's opt-out for this channel, and whether it was given for this category or all. */
function optOutScope(
  profile: CustomerProfile | null,
  channel: Channel,
  category: string,
): 'category' | 'all' | undefined {
  if (profile === null) return undefined;
  const own = profile.channelPreferences[category]?.[channel];
  if (own !== undefined) return own ? undefined : 'category';
  return profile.channelPreferences['*']?.[channel] === false ? 'all' : undefined;
}

function sourceWords(source: ContactSource, channel: Channel): string {
  const contact = CONTACT_NAMES[channel];
  switch (source) {
    case 'command':
      return `the ${contact} given in the command`;
    case 'profile-verified':
      return `the verified ${contact} on the customer's profile`;
    case 'profile':
      return `the ${contact} on the customer's profile`;
  }
}

function consider(channel: Channel, input: PlanInput): Consideration {
  const { command, profile, policy, capabilities } = input;
  const name = CHANNEL_NAMES[channel];
  const category = command.category;

  if (!policy.allowedChannels.includes(channel)) {
    return {
      channel,
      skip: 'NOT_ALLOWED_FOR_CATEGORY',
      detail: `${name} is not allowed for "${category}" messages`,
    };
  }

  const optOut = optOutScope(profile, channel, category);
  const optOutWords =
    optOut === 'category'
      ? `the customer opted out of ${name} for "${category}" messages`
      : `the customer opted out of ${name} for all messages`;
  const overridden = optOut !== undefined && input.overrides?.ignoreOptOut === true;
  if (optOut !== undefined && policy.optOutAllowed && !overridden) {
    return { channel, skip: 'OPTED_OUT', detail: optOutWords };
  }

  if (policy.requiresConsent) {
    const consent = decidingConsent(profile?.consents ?? [], channel, category);
    if (consent === undefined) {
      return {
        channel,
        skip: 'NO_CONSENT',
        detail: `the customer has not given consent to ${name} messages`,
      };
    }
    if (!consent.granted) {
      return {
        channel,
        skip: 'NO_CONSENT',
        detail: `the customer withdrew consent to ${name} messages on ${consent.at} (via ${clip(scrubContacts(consent.source))})`,
      };
    }
  }

  const contact = resolveContact(channel, command, profile);
  if (contact === undefined) {
    const where =
      profile === null
        ? 'in the command, and the customer has no stored profile'
        : "in the command or on the customer's profile";
    const whatsappNote = channel === 'whatsapp' ? ' (phone numbers are not used for WhatsApp)' : '';
    return {
      channel,
      skip: 'NO_CONTACT',
      detail: `there is no ${CONTACT_NAMES[channel]} ${where}${whatsappNote}`,
    };
  }

  const suppression = capabilities.suppression?.(channel, contact.address, category);
  const followsOptOut = suppression?.reason === 'UNSUBSCRIBE';
  const suppressionWaived =
    followsOptOut && (!policy.optOutAllowed || input.overrides?.ignoreOptOut === true);
  if (suppression !== undefined && !suppressionWaived) {
    return {
      channel,
      skip: 'SUPPRESSED',
      detail: `${suppressionWords(channel, suppression, category)}, so ${name} is not used`,
    };
  }

  if (!capabilities.hasContent(channel)) {
    return { channel, skip: 'NO_CONTENT', detail: `this message has no ${name} content` };
  }
  if (!capabilities.isSupported(channel)) {
    return { channel, skip: 'NO_PROVIDER', detail: `no ${name} provider is configured` };
  }

  const requiredNote =
    optOut === undefined
      ? ''
      : policy.optOutAllowed
        ? `; ${optOutWords}, but an admin overrode the opt-out for this resend`
        : `; ${optOutWords}, but "${category}" is a required category, so the opt-out does not apply`;
  const waivedNote =
    suppression === undefined || !suppressionWaived
      ? ''
      : policy.optOutAllowed
        ? `; ${suppressionWords(channel, suppression, category)}, but an admin overrode it for this resend`
        : `; ${suppressionWords(channel, suppression, category)}, but "${category}" is a required category, so it does not apply`;
  return {
    channel,
    address: contact.address,
    detail: `chosen: ${name} to ${sourceWords(contact.source, channel)}${requiredNote}${waivedNote}`,
  };
}

/** The suppression in plain words, e.g. "the customer replied STOP to an SMS on 2026-12-04". */
export function suppressionWords(
  channel: Channel,
  suppression: Suppression,
  category: string,
): string {
  const day = clip(suppression.since.slice(0, 10));
  switch (suppression.reason) {
    case 'STOP_KEYWORD':
      return `the customer replied STOP to ${channel === 'whatsapp' ? 'a WhatsApp message' : 'an SMS'} on ${day}`;
    case 'HARD_BOUNCE':
      return `the ${CONTACT_NAMES[channel]} bounced hard on ${day}`;
    case 'SPAM_REPORT':
      return `the customer reported a message as spam on ${day}`;
    case 'UNSUBSCRIBE':
      return suppression.scope === '*'
        ? `the customer unsubscribed from all ${CHANNEL_NAMES[channel]} on ${day}`
        : `the customer unsubscribed from "${clip(category)}" ${CHANNEL_NAMES[channel]} on ${day}`;
    case 'SUBSCRIPTION_GONE':
      return `the ${CONTACT_NAMES[channel]} is gone (the push service said so on ${day})`;
  }
}

function zoneWords(check: Extract<QuietHoursCheck, { kind: 'inside' | 'outside' }>): string {
  return check.invalidZone === undefined
    ? ''
    : ` (the profile's time zone "${clip(check.invalidZone)}" is unknown, so UTC was used)`;
}

/** What quiet hours add to a chosen entry when they do not hold the message back. */
function quietHoursNote(check: QuietHoursCheck | undefined, policy: CategoryPolicy): string {
  if (check === undefined) return '';
  if (check.kind === 'unreadable') {
    return `; the customer's quiet hours "${clip(check.window)}" could not be read, so none were applied`;
  }
  if (check.kind === 'inside' && policy.quietHours === 'ignore') {
    return `; chosen during the customer's quiet hours ${check.window} ${check.zoneName} because "${policy.category}" messages ignore quiet hours`;
  }
  if (check.invalidZone !== undefined) {
    return `; outside quiet hours ${check.window} UTC${zoneWords(check)}`;
  }
  return '';
}

export function plan(input: PlanInput): PlanResult {
  const { command, profile, policy, now, receivedAt } = input;
  const at = now.toISOString();
  const entry = (
    channel: Channel,
    decision: 'chosen' | 'skipped',
    detail: string,
    reasonCode?: string,
  ): TraceEntry => ({
    channel,
    decision,
    ...(reasonCode !== undefined && { reasonCode }),
    detail,
    at,
  });

  const expiresAt = computeExpiry(command, policy, receivedAt);
  const order = channelOrder(command, profile, policy);
  if (now.getTime() >= expiresAt.getTime()) {
    const detail = `the message expired at ${expiresAt.toISOString()} before it could be sent`;
    return {
      kind: 'expired',
      expiresAt,
      trace: order.map((channel) => entry(channel, 'skipped', detail, 'EXPIRED')),
    };
  }

  const considered = order.map((channel) => consider(channel, input));
  const chosen = considered.filter((item) => item.skip === undefined);
  const skippedEntry = (item: Consideration): TraceEntry =>
    entry(item.channel, 'skipped', item.detail, item.skip);

  if (chosen.length === 0) {
    const trace = considered.map(skippedEntry);
    const reasons = considered.map((item) => item.skip);
    const customerChoice = reasons.every(
      (reason) => reason === 'OPTED_OUT' || reason === 'NO_CONSENT' || reason === 'SUPPRESSED',
    );
    if (reasons.length > 0 && customerChoice) {
      const reasonCode = reasons.every((reason) => reason === 'NO_CONSENT')
        ? 'NO_CONSENT'
        : reasons.every((reason) => reason === 'SUPPRESSED')
          ? 'SUPPRESSED'
          : 'OPTED_OUT';
      return { kind: 'suppress', reasonCode, trace };
    }
    return { kind: 'undeliverable', trace };
  }

  const check =
    profile?.quietHours === undefined
      ? undefined
      : checkQuietHours(profile.quietHours, profile.timeZone, now);

  if (check?.kind === 'inside' && policy.quietHours !== 'ignore' && check.until !== undefined) {
    const window = `quiet hours ${check.window} ${check.zoneName}`;
    const localNow = `the customer's local time is ${check.localTime}`;
    // Chosen channels are held back by quiet hours; the other entries keep their own reason.
    const heldTrace = (held: string): TraceEntry[] =>
      considered.map((item) =>
        item.skip === undefined
          ? entry(item.channel, 'skipped', `${CHANNEL_NAMES[item.channel]} ${held}`, 'QUIET_HOURS')
          : skippedEntry(item),
      );
    if (policy.quietHours === 'drop') {
      return {
        kind: 'suppress',
        reasonCode: 'QUIET_HOURS',
        trace: heldTrace(
          `dropped: ${window} (${localNow}), and "${policy.category}" messages are dropped during quiet hours${zoneWords(check)}`,
        ),
      };
    }
    if (check.until.getTime() >= expiresAt.getTime()) {
      return {
        kind: 'expired',
        expiresAt,
        trace: heldTrace(
          `not sent: ${window} until ${check.untilText}, but the message expires earlier, at ${expiresAt.toISOString()} (${localNow})${zoneWords(check)}`,
        ),
      };
    }
    return {
      kind: 'defer',
      until: check.until,
      trace: heldTrace(
        `deferred: ${window} until ${check.untilText} (${localNow}); it will be tried again then${zoneWords(check)}`,
      ),
    };
  }

  const note = quietHoursNote(check, policy);
  const trace = considered.map((item) =>
    item.skip === undefined
      ? entry(item.channel, 'chosen', `${item.detail}${note}`)
      : skippedEntry(item),
  );
  const candidates: ChannelCandidate[] = chosen.flatMap((item) =>
    item.skip === undefined ? [{ channel: item.channel, address: item.address }] : [],
  );
  const locale = command.template?.locale ?? profile?.locale;
  return {
    kind: 'send',
    candidates,
    expiresAt,
    ...(locale !== undefined && { locale }),
    trace,
  };
}
