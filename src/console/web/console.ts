/*
 * The support console: sign in with an admin API key or OIDC token, find a customer's messages,
 * read one message's story (the decision trace in words, attempts, receipts, resends), and resend
 * it after a dry run. Plain DOM, no framework; text is only ever set as text, never parsed as HTML.
 * Every call goes to the admin API with the bearer token, so the API decides what each role sees.
 */

type Role = 'viewer' | 'agent' | 'admin';
type Channel = 'sms' | 'email' | 'whatsapp' | 'webpush' | 'mobilepush';

interface Caller {
  readonly id: string;
  readonly role: Role;
  readonly via: string;
}

interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly status?: number;
}

interface TraceEntry {
  readonly channel: Channel;
  readonly decision: 'chosen' | 'skipped' | 'failed' | 'sent';
  readonly reasonCode?: string;
  readonly detail?: string;
  readonly at: string;
}

interface MessageSummary {
  readonly id: string;
  readonly customerId: string;
  readonly category: string;
  readonly status: string;
  readonly reasonCode: string | null;
  readonly channel: Channel | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly deferrals: number;
  readonly retries: number;
  readonly resendOf: string | null;
  readonly receivedAt: string;
}

interface Timeline {
  readonly message: MessageSummary & {
    readonly trace: readonly TraceEntry[];
    readonly deliveryStatus?: string | null;
  };
  readonly command: {
    readonly priority: string;
    readonly channels: readonly Channel[] | null;
    readonly contentChannels: readonly Channel[];
    readonly templateId: string | null;
  } | null;
  readonly attempts: ReadonlyArray<{
    readonly channel: string;
    readonly provider: string;
    readonly startedAt: string;
    readonly outcome: string | null;
    readonly errorKind: string | null;
    readonly vendorCode: string | null;
    readonly detail: string | null;
  }>;
  readonly events: ReadonlyArray<{
    readonly status: string;
    readonly published: boolean;
    readonly receipt: { readonly occurredAt?: string; readonly reason?: { message?: string } };
  }>;
  readonly resends: readonly MessageSummary[];
  /** What the providers reported after the send (absent from an older gateway). */
  readonly providerEvents?: ReadonlyArray<{
    readonly provider: string;
    readonly outcome: string | null;
    readonly providerStatus: string | null;
    readonly errorCode: string | null;
    readonly effect: string;
    readonly occurredAt: string;
  }>;
}

interface Contact {
  readonly value: string;
}

interface CustomerView {
  readonly masked: boolean;
  readonly profile: {
    readonly customerId: string;
    readonly phones: readonly Contact[];
    readonly emails: readonly Contact[];
    readonly whatsapp: readonly Contact[];
    readonly fcmTokens: ReadonlyArray<{ readonly token: string }>;
    readonly webPushSubscriptions: ReadonlyArray<{ readonly subscription: { endpoint: string } }>;
    readonly preferredChannels: readonly Channel[];
    readonly channelPreferences: Readonly<Record<string, Partial<Record<Channel, boolean>>>>;
    readonly timeZone: string;
    readonly locale?: string;
    readonly quietHours?: { readonly start: string; readonly end: string };
  };
}

interface DryRun {
  readonly decision: string;
  readonly channel: Channel | null;
  readonly provider: string | null;
  readonly until: string | null;
  readonly channels: readonly Channel[];
  readonly steps: ReadonlyArray<{
    channel: Channel;
    step: string;
    provider?: string;
    detail?: string;
  }>;
  readonly skipped: ReadonlyArray<{ channel: Channel; reasonCode: string; detail: string }>;
}

interface Accepted {
  readonly messageId: string;
  readonly auditId: string;
}

const CHANNEL_NAMES: Record<Channel, string> = {
  sms: 'SMS',
  email: 'Email',
  whatsapp: 'WhatsApp',
  webpush: 'Web push',
  mobilepush: 'Mobile push',
};
const DECISION_WORDS: Record<TraceEntry['decision'], string> = {
  chosen: 'chosen',
  skipped: 'skipped',
  failed: 'failed',
  sent: 'sent',
};
const TOKEN_KEY = 'omnigate.console.token';

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** Builds an element; strings become text nodes, so nothing from the API is read as HTML. */
function el(
  tag: string,
  attributes: Record<string, string> = {},
  ...children: Array<Node | string | null>
): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) {
    if (child !== null)
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function channelName(channel: string | null): string {
  return channel === null ? '—' : (CHANNEL_NAMES[channel as Channel] ?? channel);
}

function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `request failed with ${status}`);
  }
}

/** The admin API with the signed-in token; a 401 signs the tab out. */
class AdminApi {
  constructor(
    private readonly token: string,
    private readonly onUnauthenticated: (why: string) => void,
  ) {}

  async get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      credentials: 'omit',
      cache: 'no-store',
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = { detail: `the service answered ${response.status} without JSON` };
    }
    if (!response.ok) {
      const problem = (parsed ?? {}) as Problem;
      if (response.status === 401) this.onUnauthenticated(problem.detail ?? 'signed out');
      throw new ApiError(response.status, problem);
    }
    return parsed as T;
  }
}

class Console {
  private api: AdminApi | undefined;
  private caller: Caller | undefined;
  private customer: CustomerView | undefined;
  private currentCustomerId = '';
  private nextCursor: string | null = null;
  private timeline: Timeline | undefined;
  /** The resend request a dry run was shown for; "Resend now" sends exactly this. */
  private previewed: Record<string, unknown> | undefined;

  start(): void {
    // One channel list for both pickers, after their first ("any" / "as the planner decides") option.
    for (const id of ['channel-filter', 'resend-channel']) {
      byId<HTMLSelectElement>(id).append(
        ...Object.entries(CHANNEL_NAMES).map(([value, name]) => el('option', { value }, name)),
      );
    }
    byId<HTMLFormElement>('sign-in-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.signIn(byId<HTMLInputElement>('token').value.trim());
    });
    byId('sign-out').addEventListener('click', () => this.signOut('Signed out.'));
    byId<HTMLFormElement>('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = byId<HTMLInputElement>('customer-id').value.trim();
      if (id !== '') this.go(`#/customer/${encodeURIComponent(id)}`, true);
    });
    byId('more').addEventListener('click', () => void this.loadMessages(false));
    byId<HTMLFormElement>('resend-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.dryRun();
    });
    byId<HTMLFormElement>('resend-form').addEventListener('input', () => this.invalidatePreview());
    byId('resend-channel').addEventListener('change', () => this.fillContacts());
    byId('resend-button').addEventListener('click', () => void this.resend());
    byId<HTMLFormElement>('cancel-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.cancel(false);
    });
    byId('cancel-preview').addEventListener('click', () => {
      if (byId<HTMLFormElement>('cancel-form').reportValidity()) void this.cancel(true);
    });
    window.addEventListener('hashchange', () => void this.route());
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) void this.signIn(saved);
  }

  private async signIn(token: string): Promise<void> {
    if (token === '') return;
    const api = new AdminApi(token, (why) => this.signOut(`Signed out: ${why}`));
    try {
      this.caller = await api.get<Caller>('/admin/v1/me');
    } catch (error) {
      this.showError(error);
      return;
    }
    this.api = api;
    sessionStorage.setItem(TOKEN_KEY, token);
    byId<HTMLInputElement>('token').value = '';
    byId('who').textContent = `Signed in as ${this.caller.id} (${this.caller.role})`;
    byId('sign-out').hidden = false;
    byId('sign-in-view').hidden = true;
    this.say('Signed in.');
    await this.route();
  }

  private signOut(message: string): void {
    sessionStorage.removeItem(TOKEN_KEY);
    this.api = undefined;
    this.caller = undefined;
    byId('who').textContent = '';
    byId('sign-out').hidden = true;
    for (const id of ['search-view', 'message-view']) byId(id).hidden = true;
    byId('sign-in-view').hidden = false;
    this.say(message);
    byId('token').focus();
  }

  private go(hash: string, force = false): void {
    if (location.hash === hash && force) void this.route();
    else location.hash = hash;
  }

  private async route(): Promise<void> {
    if (!this.api) return;
    this.clearError();
    const [, kind, raw] = /^#\/(customer|message)\/(.+)$/.exec(location.hash) ?? [];
    const value = raw === undefined ? '' : decodeURIComponent(raw);
    byId('search-view').hidden = kind === 'message';
    byId('message-view').hidden = kind !== 'message';
    try {
      if (kind === 'customer') await this.openCustomer(value);
      else if (kind === 'message') await this.openMessage(value);
      else byId('customer-id').focus();
    } catch (error) {
      this.showError(error);
    }
  }

  private async openCustomer(customerId: string): Promise<void> {
    this.currentCustomerId = customerId;
    byId<HTMLInputElement>('customer-id').value = customerId;
    this.customer = undefined;
    const profile = byId('profile');
    profile.replaceChildren();
    try {
      this.customer = await this.need().get<CustomerView>(
        `/admin/v1/customers/${encodeURIComponent(customerId)}`,
      );
      profile.append(this.renderProfile(this.customer));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      profile.append(el('p', { class: 'muted' }, 'No stored profile for this customer.'));
    }
    await this.loadMessages(true);
  }

  private renderProfile(view: CustomerView): HTMLElement {
    const p = view.profile;
    const list = (values: readonly string[]): string =>
      values.length > 0 ? values.join(', ') : '—';
    const optOuts = Object.entries(p.channelPreferences).flatMap(([category, channels]) =>
      Object.entries(channels)
        .filter(([, allowed]) => allowed === false)
        .map(
          ([channel]) =>
            `${channelName(channel)} (${category === '*' ? 'all categories' : category})`,
        ),
    );
    const rows: Array<[string, string]> = [
      ['Phones', list(p.phones.map((c) => c.value))],
      ['Emails', list(p.emails.map((c) => c.value))],
      ['WhatsApp', list(p.whatsapp.map((c) => c.value))],
      ['Push devices', `${p.fcmTokens.length} mobile, ${p.webPushSubscriptions.length} web`],
      ['Preferred channels', list(p.preferredChannels.map(channelName))],
      ['Opted out of', list(optOuts)],
      ['Time zone', p.timeZone],
      ['Quiet hours', p.quietHours ? `${p.quietHours.start}–${p.quietHours.end} local time` : '—'],
    ];
    const dl = el('dl', { 'aria-label': 'Customer profile' });
    for (const [term, value] of rows) dl.append(el('dt', {}, term), el('dd', {}, value));
    return el(
      'div',
      {},
      el('h3', {}, `Customer ${p.customerId}`),
      view.masked ? el('p', { class: 'hint' }, 'Contacts are masked for your role.') : null,
      dl,
    );
  }

  private async loadMessages(first: boolean): Promise<void> {
    const table = byId<HTMLTableElement>('messages');
    const body = table.tBodies[0]!;
    if (first) {
      body.replaceChildren();
      this.nextCursor = null;
    }
    const query = new URLSearchParams({ customerId: this.currentCustomerId, limit: '25' });
    const status = byId<HTMLSelectElement>('status-filter').value;
    const channel = byId<HTMLSelectElement>('channel-filter').value;
    if (status) query.set('status', status);
    if (channel) query.set('channel', channel);
    if (!first && this.nextCursor) query.set('cursor', this.nextCursor);
    try {
      const page = await this.need().get<{ items: MessageSummary[]; nextCursor: string | null }>(
        `/admin/v1/messages?${query.toString()}`,
      );
      for (const message of page.items) {
        body.append(
          el(
            'tr',
            {},
            el('td', {}, when(message.receivedAt)),
            el(
              'td',
              {},
              el('a', { href: `#/message/${encodeURIComponent(message.id)}` }, message.id),
            ),
            el('td', {}, message.category),
            el('td', {}, message.status),
            el('td', {}, channelName(message.channel)),
            el('td', {}, message.provider ?? '—'),
          ),
        );
      }
      this.nextCursor = page.nextCursor;
      table.hidden = body.rows.length === 0;
      byId('more').hidden = page.nextCursor === null;
      this.say(
        body.rows.length === 0
          ? `No messages for ${this.currentCustomerId}.`
          : `${body.rows.length} message(s) for ${this.currentCustomerId}.`,
      );
    } catch (error) {
      this.showError(error);
    }
  }

  private async openMessage(messageId: string): Promise<void> {
    try {
      this.timeline = await this.need().get<Timeline>(
        `/admin/v1/messages/${encodeURIComponent(messageId)}`,
      );
    } catch (error) {
      this.showError(error);
      return;
    }
    const { message } = this.timeline;
    if (this.currentCustomerId !== message.customerId || !this.customer) {
      this.currentCustomerId = message.customerId;
      this.customer = await this.need()
        .get<CustomerView>(`/admin/v1/customers/${encodeURIComponent(message.customerId)}`)
        .catch(() => undefined);
    }
    byId<HTMLAnchorElement>('back').href = `#/customer/${encodeURIComponent(message.customerId)}`;
    byId('message-title').textContent = `Message ${message.id}`;
    this.renderSummary(this.timeline);
    this.renderTrace(message.trace);
    this.renderAttempts(this.timeline);
    this.renderEvents(this.timeline);
    byId('resends').replaceChildren(
      ...(this.timeline.resends.length === 0
        ? [el('li', { class: 'muted' }, 'Not resent yet.')]
        : this.timeline.resends.map((r) =>
            el(
              'li',
              {},
              el('a', { href: `#/message/${encodeURIComponent(r.id)}` }, r.id),
              ` — ${r.status}${r.channel ? ` on ${channelName(r.channel)}` : ''}`,
            ),
          )),
    );
    const canResend = this.caller?.role === 'agent' || this.caller?.role === 'admin';
    byId('resend-panel').hidden = !canResend;
    // Only a message still waiting (or being worked on) can be withdrawn.
    const pending = message.status === 'deferred' || message.status === 'processing';
    byId('cancel-panel').hidden = !(canResend && pending);
    byId<HTMLFormElement>('cancel-form').reset();
    byId('cancel-result').replaceChildren();
    byId('overrides').hidden = this.caller?.role !== 'admin';
    byId<HTMLFormElement>('resend-form').reset();
    byId('resend-result').replaceChildren();
    this.fillContacts();
    this.invalidatePreview();
    byId('message-title').focus();
    this.say(`Message ${message.id}: ${message.status}.`);
  }

  private renderSummary({ message, command }: Timeline): void {
    const rows: Array<[string, string]> = [
      ['Customer', message.customerId],
      ['Category', message.category],
      ['Status', `${message.status}${message.reasonCode ? ` (${message.reasonCode})` : ''}`],
      ['Delivery (provider reports)', message.deliveryStatus ?? '—'],
      ['Channel', channelName(message.channel)],
      ['Provider', message.provider ?? '—'],
      ['Provider message id', message.providerMessageId ?? '—'],
      ['Received', when(message.receivedAt)],
      ['Deferrals / retries', `${message.deferrals} / ${message.retries}`],
    ];
    if (message.resendOf) rows.push(['Resend of', message.resendOf]);
    if (command) {
      rows.push(['Priority', command.priority]);
      rows.push(['Channels asked for', command.channels?.map(channelName).join(', ') ?? 'any']);
      rows.push([
        'Content',
        command.templateId
          ? `template ${command.templateId}`
          : `inline for ${command.contentChannels.map(channelName).join(', ')}`,
      ]);
    }
    const dl = byId('message-summary');
    dl.replaceChildren();
    for (const [term, value] of rows) dl.append(el('dt', {}, term), el('dd', {}, value));
  }

  private renderTrace(trace: readonly TraceEntry[]): void {
    const list = byId('trace');
    if (trace.length === 0) {
      list.replaceChildren(el('li', { class: 'muted' }, 'No decisions recorded yet.'));
      return;
    }
    list.replaceChildren(
      ...trace.map((entry) =>
        el(
          'li',
          {},
          el('strong', {}, channelName(entry.channel)),
          ': ',
          el('span', { class: `decision-${entry.decision}` }, DECISION_WORDS[entry.decision]),
          entry.reasonCode ? ` (${entry.reasonCode.toLowerCase().replace(/_/g, ' ')})` : '',
          entry.detail ? ` — ${entry.detail}` : '',
          el('span', { class: 'muted' }, ` · ${when(entry.at)}`),
        ),
      ),
    );
  }

  private renderAttempts({ attempts }: Timeline): void {
    const body = byId<HTMLTableElement>('attempts').tBodies[0]!;
    body.replaceChildren(
      ...(attempts.length === 0
        ? [el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No provider was called.'))]
        : attempts.map((a) =>
            el(
              'tr',
              {},
              el('td', {}, when(a.startedAt)),
              el('td', {}, channelName(a.channel)),
              el('td', {}, a.provider),
              el('td', {}, a.outcome ?? 'in flight'),
              el(
                'td',
                {},
                [a.errorKind, a.vendorCode && `code ${a.vendorCode}`, a.detail]
                  .filter(Boolean)
                  .join(' · ') || '—',
              ),
            ),
          )),
    );
  }

  /** Receipts and the provider reports that caused them, by time (a report before its receipt). */
  private renderEvents({ events, providerEvents = [] }: Timeline): void {
    const items = [
      ...providerEvents.map((p) => ({
        at: p.occurredAt,
        item: el(
          'li',
          { class: 'muted' },
          `${p.provider} reported ${p.providerStatus ?? p.outcome ?? 'an event'}`,
          p.errorCode ? ` (error ${p.errorCode})` : '',
          ` at ${when(p.occurredAt)} · ${p.effect.replaceAll('_', ' ')}`,
        ),
      })),
      ...events.map((e) => ({
        at: e.receipt.occurredAt ?? '',
        item: el(
          'li',
          {},
          el('strong', {}, e.status),
          ` at ${when(e.receipt.occurredAt)}`,
          e.receipt.reason?.message ? ` — ${e.receipt.reason.message}` : '',
          el('span', { class: 'muted' }, e.published ? ' · published' : ' · not yet published'),
        ),
      })),
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    byId('events').replaceChildren(...items.map(({ item }) => item));
  }

  /**
   * The profile's contacts for the channel, as the API showed them (masked below admin). The
   * option's value is the contact's index, which is what the resend names: never a typed value.
   */
  private fillContacts(): void {
    const channel = byId<HTMLSelectElement>('resend-channel').value as Channel | '';
    const select = byId<HTMLSelectElement>('resend-contact');
    const profile = this.customer?.profile;
    const labels: string[] = [];
    if (profile) {
      if (channel === 'sms') labels.push(...profile.phones.map((c) => c.value));
      if (channel === 'email') labels.push(...profile.emails.map((c) => c.value));
      if (channel === 'whatsapp') labels.push(...profile.whatsapp.map((c) => c.value));
      if (channel === 'mobilepush') labels.push(...profile.fcmTokens.map((t) => t.token));
      if (channel === 'webpush') {
        labels.push(...profile.webPushSubscriptions.map((s) => s.subscription.endpoint));
      }
    }
    select.replaceChildren(
      el('option', { value: '' }, 'the one the planner picks'),
      ...labels.map((label, index) => el('option', { value: String(index) }, label)),
    );
    byId('contact-row').hidden = labels.length === 0;
  }

  private resendBody(): Record<string, unknown> {
    const channel = byId<HTMLSelectElement>('resend-channel').value;
    const contact = byId<HTMLSelectElement>('resend-contact').value;
    const admin = this.caller?.role === 'admin';
    return {
      reason: byId<HTMLTextAreaElement>('resend-reason').value.trim(),
      ...(channel && { channel }),
      ...(channel && contact !== '' && { contactIndex: Number(contact) }),
      ...(admin && byId<HTMLInputElement>('override-opt-out').checked && { overrideOptOut: true }),
      ...(admin && byId<HTMLInputElement>('override-caps').checked && { overrideCaps: true }),
    };
  }

  private invalidatePreview(): void {
    this.previewed = undefined;
    byId<HTMLButtonElement>('resend-button').disabled = true;
    byId('dry-run-result').replaceChildren();
  }

  private async dryRun(): Promise<void> {
    const message = this.timeline?.message;
    if (!message) return;
    const body = this.resendBody();
    const out = byId('dry-run-result');
    try {
      const result = await this.need().post<DryRun>(
        `/admin/v1/messages/${encodeURIComponent(message.id)}/resend`,
        { ...body, dryRun: true },
      );
      out.replaceChildren(this.renderDryRun(result));
      const sendable = result.decision === 'send' || result.decision === 'defer';
      this.previewed = sendable ? body : undefined;
      byId<HTMLButtonElement>('resend-button').disabled = !sendable;
      this.say(`Dry run: ${this.verdict(result)}`);
    } catch (error) {
      out.replaceChildren(
        el('p', { class: 'verdict', role: 'alert' }, `Refused: ${this.words(error)}`),
      );
      this.say(`Dry run refused: ${this.words(error)}`);
    }
  }

  private verdict(result: DryRun): string {
    switch (result.decision) {
      case 'send':
        return `would send on ${channelName(result.channel)} through ${result.provider ?? 'a provider'}.`;
      case 'defer':
        return `would wait until ${when(result.until)} before sending.`;
      case 'capped':
        return 'would not be sent: the frequency caps are full.';
      case 'suppress':
        return 'would not be sent: the customer does not want it now.';
      case 'expired':
        return 'would not be sent: it has expired.';
      default:
        return 'would not be sent: no channel has a contact, content and a provider.';
    }
  }

  private renderDryRun(result: DryRun): HTMLElement {
    const steps = result.steps.map((s) =>
      el(
        'li',
        {},
        `${channelName(s.channel)}: ${s.step === 'send' ? `send through ${s.provider ?? ''}` : (s.detail ?? s.step)}`,
      ),
    );
    const skipped = result.skipped.map((s) =>
      el('li', {}, `${channelName(s.channel)} skipped — ${s.detail || s.reasonCode}`),
    );
    return el(
      'div',
      { class: 'verdict', 'data-decision': result.decision },
      el('p', {}, el('strong', {}, 'Dry run: '), `this resend ${this.verdict(result)}`),
      steps.length > 0
        ? el('ol', { 'aria-label': 'Channels the resend would try' }, ...steps)
        : null,
      skipped.length > 0 ? el('ul', { 'aria-label': 'Channels passed over' }, ...skipped) : null,
      el(
        'p',
        { class: 'hint' },
        'Nothing was sent or counted. "Resend now" sends exactly what was previewed.',
      ),
    );
  }

  /**
   * Withdraws the message shown, with the agent's reason, or (dry run) says what would be
   * withdrawn; the answer says what happened, and a real withdrawal reloads the timeline.
   */
  private async cancel(dryRun: boolean): Promise<void> {
    const message = this.timeline?.message;
    if (!message) return;
    const out = byId('cancel-result');
    const reason = byId<HTMLTextAreaElement>('cancel-reason').value.trim();
    try {
      const result = await this.need().post<{ outcome: string; withdrawn: string[] }>(
        `/admin/v1/messages/${encodeURIComponent(message.id)}/cancel`,
        { reason, ...(dryRun && { dryRun: true }) },
      );
      const words = cancelWords(result, dryRun);
      out.replaceChildren(
        el(
          'p',
          { class: 'verdict', 'data-cancel-outcome': dryRun ? 'dry-run' : result.outcome },
          words,
        ),
      );
      // The panel goes away with the message's pending state; the status line keeps the answer.
      if (!dryRun && result.outcome === 'cancelled') await this.openMessage(message.id);
      this.say(words);
    } catch (error) {
      out.replaceChildren(
        el('p', { class: 'verdict', role: 'alert' }, `Refused: ${this.words(error)}`),
      );
      this.say(`Cancel refused: ${this.words(error)}`);
    }
  }

  private async resend(): Promise<void> {
    const message = this.timeline?.message;
    if (!message || !this.previewed) return;
    const body = this.previewed;
    const out = byId('resend-result');
    byId<HTMLButtonElement>('resend-button').disabled = true;
    try {
      const accepted = await this.need().post<Accepted>(
        `/admin/v1/messages/${encodeURIComponent(message.id)}/resend`,
        body,
      );
      this.previewed = undefined;
      const link = el(
        'a',
        { href: `#/message/${encodeURIComponent(accepted.messageId)}` },
        accepted.messageId,
      );
      const state = el('span', { 'data-resend-status': 'processing' }, 'processing');
      out.replaceChildren(
        el(
          'p',
          { class: 'verdict' },
          'Resent as ',
          link,
          ' — status: ',
          state,
          ` (audit record ${accepted.auditId})`,
        ),
      );
      this.say(`Resent as ${accepted.messageId}.`);
      await this.follow(accepted.messageId, state);
    } catch (error) {
      out.replaceChildren(
        el('p', { class: 'verdict', role: 'alert' }, `Refused: ${this.words(error)}`),
      );
      this.say(`Resend refused: ${this.words(error)}`);
    }
  }

  /** Polls the new message for a while, so the agent sees it settle without reloading. */
  private async follow(messageId: string, state: HTMLElement): Promise<void> {
    for (let i = 0; i < 30; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const t = await this.need()
        .get<Timeline>(`/admin/v1/messages/${encodeURIComponent(messageId)}`)
        .catch(() => undefined);
      const status = t?.message.status;
      if (!t || status === undefined) continue;
      const on = t.message.channel
        ? ` on ${channelName(t.message.channel)} via ${t.message.provider ?? '?'}`
        : '';
      state.textContent = `${status}${on}`;
      state.setAttribute('data-resend-status', status);
      if (status !== 'processing') {
        this.say(`Resend ${messageId}: ${status}${on}.`);
        return;
      }
    }
  }

  private need(): AdminApi {
    if (!this.api) throw new Error('not signed in');
    return this.api;
  }

  private words(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }

  private say(text: string): void {
    byId('status').textContent = text;
  }

  private showError(error: unknown): void {
    const box = byId('error');
    box.textContent = this.words(error);
    box.hidden = false;
  }

  private clearError(): void {
    const box = byId('error');
    box.textContent = '';
    box.hidden = true;
  }
}

new Console().start();

/** A cancel's answer in words, for a dry run or a real withdrawal. */
function cancelWords(result: { outcome: string; withdrawn: string[] }, dryRun: boolean): string {
  if (result.outcome === 'too_late')
    return 'Too late: it was already handed to a provider; nothing changed.';
  if (dryRun)
    return result.withdrawn.length === 0
      ? 'Dry run: nothing would be withdrawn.'
      : `Dry run: would withdraw ${result.withdrawn.join(', ')}; nothing changed yet.`;
  return result.outcome === 'cancelled'
    ? 'Cancelled: it will not be sent.'
    : `Outcome: ${result.outcome}.`;
}
