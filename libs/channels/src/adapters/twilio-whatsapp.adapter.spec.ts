import { inspect } from 'node:util';
import { FakeTwilio, type TwilioFormFields } from '@omnigate/sandbox';
import type { ChannelContent, OutboundMessage } from '../channel-adapter';
import { ChannelError } from '../channel-error';
import {
  TWILIO_WHATSAPP_ERROR_DESCRIPTIONS,
  TWILIO_WHATSAPP_ERROR_KINDS,
  TwilioWhatsAppAdapter,
  type TwilioWhatsAppAdapterOptions,
} from './twilio-whatsapp.adapter';
import { rejectionOf } from '../../../../test/support/rejections';

const ACCOUNT_SID = `AC${'4'.repeat(32)}`;
const AUTH_TOKEN = 'whatsapp-token';
const SENDER = '+14155238886';
const TO = '+447700900123';
const MESSAGE_ID = 'msg-wa-1';
const SHIPPED_EN = `HX${'a'.repeat(32)}`;
const SHIPPED_AR = `HX${'b'.repeat(32)}`;

function whatsappTo(
  content: ChannelContent<'whatsapp'>,
  address = TO,
): OutboundMessage<'whatsapp'> {
  return {
    messageId: MESSAGE_ID,
    customerId: 'cust-1',
    channel: 'whatsapp',
    address,
    content,
    category: 'order_updates',
    priority: 'normal',
  };
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelError);

describe('TwilioWhatsAppAdapter against the Twilio fake', () => {
  let fake: FakeTwilio;
  let options: TwilioWhatsAppAdapterOptions;
  let adapter: TwilioWhatsAppAdapter;

  beforeAll(async () => {
    fake = await new FakeTwilio({ accounts: { [ACCOUNT_SID]: AUTH_TOKEN } }).listen();
    options = {
      providerId: 'twilio-whatsapp',
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: SENDER,
      contentSids: { order_shipped: { en_US: SHIPPED_EN, ar: SHIPPED_AR } },
      webhookBaseUrl: 'https://gateway.example.com',
      baseUrl: fake.url,
      requestTimeoutMs: 2_000,
    };
    adapter = new TwilioWhatsAppAdapter(options);
  });

  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  const lastFields = (): TwilioFormFields => fake.requests.at(-1)?.body as TwilioFormFields;

  it('sends free text as Body between whatsapp: addresses', async () => {
    const acceptance = await adapter.send(whatsappTo({ text: 'Your parcel is on its way' }));

    expect(lastFields()).toEqual({
      To: `whatsapp:${TO}`,
      From: `whatsapp:${SENDER}`,
      Body: 'Your parcel is on its way',
      StatusCallback: `https://gateway.example.com/webhooks/twilio/twilio-whatsapp/status?messageId=${MESSAGE_ID}`,
    });
    expect(acceptance.provider).toBe('twilio-whatsapp');
    expect(acceptance.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(acceptance.providerMessageId).toBe(fake.requests[0]?.providerMessageId);
  });

  it('keeps an address that already carries the whatsapp: prefix', async () => {
    const prefixed = new TwilioWhatsAppAdapter({ ...options, from: `whatsapp:${SENDER}` });

    await prefixed.send(whatsappTo({ text: 'hi' }, `whatsapp:${TO}`));

    expect(lastFields()).toMatchObject({ To: `whatsapp:${TO}`, From: `whatsapp:${SENDER}` });
  });

  it('sends a template as ContentSid and ContentVariables, without Body', async () => {
    const variables = { '1': 'Layla', '2': '١٢٣', '3': '📦 订单' };

    await adapter.send(
      whatsappTo({ template: { name: 'order_shipped', language: 'ar', variables } }),
    );

    const fields = lastFields();
    expect(fields).toEqual({
      To: `whatsapp:${TO}`,
      From: `whatsapp:${SENDER}`,
      ContentSid: SHIPPED_AR,
      ContentVariables: JSON.stringify(variables),
      StatusCallback: `https://gateway.example.com/webhooks/twilio/twilio-whatsapp/status?messageId=${MESSAGE_ID}`,
    });
    expect(JSON.parse(fields.ContentVariables as string)).toEqual(variables);
  });

  it('omits ContentVariables for a template without variables', async () => {
    await adapter.send(whatsappTo({ template: { name: 'order_shipped', language: 'en_US' } }));

    expect(lastFields().ContentSid).toBe(SHIPPED_EN);
    expect(lastFields()).not.toHaveProperty('ContentVariables');
  });

  it('refuses a template with no configured ContentSid without calling Twilio', async () => {
    const error = await rejection(
      adapter.send(whatsappTo({ template: { name: 'order_shipped', language: 'pt_BR' } })),
    );

    expect(error.kind).toBe('configuration');
    expect(error.message).toContain('"order_shipped" in language "pt_BR"');
    expect(fake.requests).toHaveLength(0);
  });

  it.each([
    ['Chinese', '您的订单已发货'],
    ['emoji', '🎉 Delivered! 👨‍👩‍👧‍👦🇯🇵'],
    ['Arabic (RTL)', '\u202Bطلبك في الطريق\u202C'],
  ])('delivers %s text byte-identical', async (_label, text) => {
    await adapter.send(whatsappTo({ text }));

    expect(Buffer.from(lastFields().Body as string).equals(Buffer.from(text))).toBe(true);
  });

  describe('every row of TWILIO_WHATSAPP_ERROR_KINDS', () => {
    it.each(Object.entries(TWILIO_WHATSAPP_ERROR_KINDS))(
      'Twilio %s becomes %s',
      async (code, kind) => {
        fake.setFailurePlan({ recipientErrors: { [TO]: code } });

        const error = await rejection(adapter.send(whatsappTo({ text: 'hi' })));

        expect(error.kind).toBe(kind);
        expect(error.vendorCode).toBe(code);
        expect(error.provider).toBe('twilio-whatsapp');
        const description =
          TWILIO_WHATSAPP_ERROR_DESCRIPTIONS[
            code as keyof typeof TWILIO_WHATSAPP_ERROR_DESCRIPTIONS
          ];
        expect(error.message).toMatch(
          new RegExp(`^twilio-whatsapp: Twilio error ${code} \\(HTTP \\d{3}\\): `),
        );
        expect(error.message.endsWith(description)).toBe(true);
        expect(error.message).not.toContain(TO);
      },
    );
  });

  it('keeps the address out of the error though Twilio quotes it (21211)', async () => {
    const invalid = '+0447700900987';

    const error = await rejection(adapter.send(whatsappTo({ text: 'hi' }, invalid)));

    // The fake answers as Twilio: "The 'To' number whatsapp:+0447700900987 is not a valid phone number."
    expect(fake.requests[0]).toMatchObject({ status: 400, recipient: `whatsapp:${invalid}` });
    expect(error).toMatchObject({ kind: 'invalid_recipient', vendorCode: '21211' });
    expect(error.message).toBe(
      "twilio-whatsapp: Twilio error 21211 (HTTP 400): invalid 'To' phone number",
    );
    expect(String(error)).not.toContain(invalid);
    expect(inspect(error, { depth: 20 })).not.toContain(invalid);
  });

  it('matches recipientErrors written with the whatsapp: prefix too', async () => {
    fake.setFailurePlan({ recipientErrors: { [`whatsapp:${TO}`]: '21610' } });

    const error = await rejection(adapter.send(whatsappTo({ text: 'hi' })));

    expect(error).toMatchObject({ kind: 'recipient_opted_out', vendorCode: '21610' });
  });

  it('falls back on the HTTP status for codes not in the table', async () => {
    fake.setFailurePlan({ recipientErrors: { [TO]: '63999' } });
    expect(await rejection(adapter.send(whatsappTo({ text: 'hi' })))).toMatchObject({
      kind: 'permanent',
      vendorCode: '63999',
    });

    fake.setFailurePlan({ failNext: { count: 1, status: 504 } });
    expect(await rejection(adapter.send(whatsappTo({ text: 'hi' })))).toMatchObject({
      kind: 'transient',
      vendorCode: '504',
    });
  });

  describe('configuration', () => {
    it('names a missing sender', () => {
      expect(() => new TwilioWhatsAppAdapter({ ...options, from: '' })).toThrow(
        /missing option "from"/,
      );
    });

    it('names a missing auth token', () => {
      expect(() => new TwilioWhatsAppAdapter({ ...options, authToken: '' })).toThrow(
        /twilio-whatsapp: missing option "authToken"/,
      );
    });

    it('refuses a contentSids entry that is not a ContentSid', () => {
      const build = () =>
        new TwilioWhatsAppAdapter({ ...options, contentSids: { welcome: { en: 'welcome-v2' } } });

      expect(build).toThrow(ChannelError);
      expect(build).toThrow(/welcome\/en to "welcome-v2"/);
    });
  });
});
