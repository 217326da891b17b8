import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webPush from 'web-push';
import { FakeFcm, FakeWebPush, sandboxTls, type PushAppAckOptions } from './push';
import { FakeSendGrid, type SendGridEventWebhookOptions } from './sendgrid/fake-sendgrid';
import { FakeTwilio, type TwilioStatusCallbackOptions } from './twilio/fake-twilio';
import {
  webhookIngress,
  type FailurePlan,
  type ProviderFake,
  type WebhookDeliveryOptions,
  type WebhookPost,
} from './core';

/** Fixed ports for a standalone sandbox (`npm run sandbox`); 0 picks free ones (tests). */
export interface SandboxPorts {
  readonly twilio?: number;
  readonly twilioBackup?: number;
  readonly sendgrid?: number;
}

export interface SandboxSuiteOptions {
  readonly ports?: SandboxPorts;
  readonly host?: string;
  /** Applied to every fake, e.g. a latency range for the demo and the benchmark. */
  readonly defaultPlan?: FailurePlan;
  /**
   * The providers' half of the delivery lifecycle: Twilio status callbacks, SendGrid event
   * batches and push apps' acks, posted to the gateway's webhook endpoints. Off when omitted
   * (the gateway is then given no WEBHOOK_PUBLIC_BASE_URL and nothing calls it back).
   */
  readonly webhooks?: SandboxWebhookOptions;
  /** Whether the web push service decrypts payloads (FakeWebPushOptions.payloads); decrypt. */
  readonly webPushPayloads?: 'decrypt' | 'forward';
}

export interface SandboxWebhookOptions {
  /**
   * The gateway's WEBHOOK_PUBLIC_BASE_URL: the https URL providers are given and Twilio signs, as
   * behind an ingress. Default https://omnigate.sandbox.test
   */
  readonly publicBaseUrl?: string;
  /**
   * Where the gateway listens (e.g. http://127.0.0.1:8080): the sandbox plays the ingress and
   * forwards the public URL there. When the port is known only once the gateway runs, leave it out
   * and call routeWebhooksTo() then.
   */
  readonly gatewayUrl?: string;
  /** What Twilio reports (both accounts); `false`: no status callbacks. */
  readonly twilio?: TwilioStatusCallbackOptions | false;
  /** What SendGrid's Event Webhook reports; `false`: no event batches. */
  readonly sendgrid?: Omit<SendGridEventWebhookOptions, 'url'> | false;
  /** How the pretend apps acknowledge pushes; `false`: not at all. Default: delivered only. */
  readonly pushAcks?: PushAppAckOptions | false;
  /** Retries and timeouts of every post. */
  readonly delivery?: Omit<WebhookDeliveryOptions, 'route'>;
}

export const DEFAULT_WEBHOOK_PUBLIC_BASE_URL = 'https://omnigate.sandbox.test';

/** Credentials the fakes accept and the gateway is configured with. */
export interface SandboxCredentials {
  readonly twilio: { readonly accountSid: string; readonly authToken: string };
  readonly twilioBackup: { readonly accountSid: string; readonly authToken: string };
  readonly sendgridApiKey: string;
  readonly vapid: { readonly publicKey: string; readonly privateKey: string };
}

/**
 * Every provider fake at once, with the gateway environment that points the real SDKs at them:
 * two Twilio accounts (SMS fails over from the first to the second), SendGrid for email, FCM for
 * mobile push and a Web Push service, the last two over HTTPS with a local certificate.
 */
export class SandboxSuite {
  private constructor(
    readonly twilio: FakeTwilio,
    readonly twilioBackup: FakeTwilio,
    readonly sendgrid: FakeSendGrid,
    readonly fcm: FakeFcm,
    readonly webPush: FakeWebPush,
    readonly credentials: SandboxCredentials,
    /** The sandbox certificate, for the gateway's HTTPS clients (FCM, web push). */
    readonly caFile: string,
    /** The gateway's public base URL when the sandbox calls it back; undefined otherwise. */
    readonly webhookPublicBaseUrl: string | undefined,
  ) {}

  static async start(options: SandboxSuiteOptions = {}): Promise<SandboxSuite> {
    const host = options.host ?? '127.0.0.1';
    const ports = options.ports ?? {};
    const account = () => ({
      accountSid: `AC${randomBytes(16).toString('hex')}`,
      authToken: randomBytes(16).toString('hex'),
    });
    const credentials: SandboxCredentials = {
      twilio: account(),
      twilioBackup: account(),
      sendgridApiKey: `SG.sandbox.${randomBytes(12).toString('hex')}`,
      vapid: webPush.generateVAPIDKeys(),
    };
    const plan = options.defaultPlan ?? {};
    const hooks = options.webhooks;
    const publicBaseUrl = hooks
      ? (hooks.publicBaseUrl ?? DEFAULT_WEBHOOK_PUBLIC_BASE_URL).replace(/\/+$/, '')
      : undefined;
    const delivery: WebhookDeliveryOptions = {
      ...hooks?.delivery,
      route:
        publicBaseUrl && hooks?.gatewayUrl
          ? webhookIngress(publicBaseUrl, hooks.gatewayUrl)
          : undefined,
    };
    const statusCallbacks = hooks && hooks.twilio !== false ? (hooks.twilio ?? {}) : false;
    const inboundUrl = (providerId: string) =>
      publicBaseUrl && `${publicBaseUrl}/webhooks/twilio/${providerId}/inbound`;
    const eventWebhook =
      publicBaseUrl && hooks?.sendgrid !== false
        ? { ...hooks?.sendgrid, url: `${publicBaseUrl}/webhooks/sendgrid/sendgrid/events` }
        : undefined;
    const appAcks = hooks && hooks.pushAcks !== false ? (hooks.pushAcks ?? {}) : undefined;
    const twilio = await new FakeTwilio({
      accounts: { [credentials.twilio.accountSid]: credentials.twilio.authToken },
      failurePlan: plan,
      statusCallbacks,
      inboundUrl: inboundUrl('twilio'),
      webhooks: delivery,
    }).listen(ports.twilio ?? 0, host);
    const twilioBackup = await new FakeTwilio({
      accounts: { [credentials.twilioBackup.accountSid]: credentials.twilioBackup.authToken },
      failurePlan: plan,
      statusCallbacks,
      inboundUrl: inboundUrl('twilio_backup'),
      webhooks: delivery,
    }).listen(ports.twilioBackup ?? 0, host);
    const sendgrid = await new FakeSendGrid({
      apiKeys: [credentials.sendgridApiKey],
      failurePlan: plan,
      eventWebhook,
      webhooks: delivery,
    }).listen(ports.sendgrid ?? 0, host);
    const fcm = await FakeFcm.start({ failurePlan: plan, appAcks, webhooks: delivery });
    const webPushService = await FakeWebPush.start({
      failurePlan: plan,
      appAcks,
      webhooks: delivery,
      payloads: options.webPushPayloads,
    });
    const caFile = join(mkdtempSync(join(tmpdir(), 'omnigate-sandbox-')), 'ca.pem');
    writeFileSync(caFile, (await sandboxTls()).cert);
    return new SandboxSuite(
      twilio,
      twilioBackup,
      sendgrid,
      fcm,
      webPushService,
      credentials,
      caFile,
      publicBaseUrl,
    );
  }

  /** Phone numbers of the sandbox senders. */
  static readonly SENDERS = {
    sms: '+15005550006',
    smsBackup: '+15005550007',
    whatsapp: '+14155238886',
    email: 'notifications@omnigate.example',
  } as const;

  /** The gateway environment that sends every channel through these fakes. */
  gatewayEnvironment(): Record<string, string> {
    const { twilio, twilioBackup, sendgridApiKey } = this.credentials;
    return {
      PROVIDERS_SMS: 'twilio,twilio_backup',
      PROVIDERS_WHATSAPP: 'twilio',
      PROVIDERS_EMAIL: 'sendgrid',
      PROVIDER_TWILIO_ACCOUNT_SID: twilio.accountSid,
      PROVIDER_TWILIO_AUTH_TOKEN: twilio.authToken,
      PROVIDER_TWILIO_FROM: SandboxSuite.SENDERS.sms,
      PROVIDER_TWILIO_WHATSAPP_FROM: SandboxSuite.SENDERS.whatsapp,
      PROVIDER_TWILIO_WHATSAPP_TEMPLATES: JSON.stringify({
        otp_code: { en: 'HX0a1b2c3d4e5f60718293a4b5c6d7e8f9' },
      }),
      PROVIDER_TWILIO_BASE_URL: this.twilio.url,
      PROVIDER_TWILIO_BACKUP_TYPE: 'twilio',
      PROVIDER_TWILIO_BACKUP_ACCOUNT_SID: twilioBackup.accountSid,
      PROVIDER_TWILIO_BACKUP_AUTH_TOKEN: twilioBackup.authToken,
      PROVIDER_TWILIO_BACKUP_FROM: SandboxSuite.SENDERS.smsBackup,
      PROVIDER_TWILIO_BACKUP_BASE_URL: this.twilioBackup.url,
      PROVIDER_SENDGRID_API_KEY: sendgridApiKey,
      PROVIDER_SENDGRID_FROM_EMAIL: SandboxSuite.SENDERS.email,
      PROVIDER_SENDGRID_FROM_NAME: 'Omnigate Sandbox',
      PROVIDER_SENDGRID_BASE_URL: this.sendgrid.url,
      PROVIDERS_MOBILEPUSH: 'fcm',
      PROVIDER_FCM_SERVICE_ACCOUNT_JSON: JSON.stringify(this.fcm.serviceAccount),
      PROVIDER_FCM_ENDPOINT_OVERRIDE: this.fcm.endpoints.fcm,
      PROVIDER_FCM_TOKEN_ENDPOINT_OVERRIDE: this.fcm.endpoints.oauth2,
      PROVIDER_FCM_CA_FILE: this.caFile,
      PROVIDERS_WEBPUSH: 'webpush',
      PROVIDER_WEBPUSH_VAPID_SUBJECT: 'mailto:ops@omnigate.example',
      PROVIDER_WEBPUSH_VAPID_PUBLIC_KEY: this.credentials.vapid.publicKey,
      PROVIDER_WEBPUSH_VAPID_PRIVATE_KEY: this.credentials.vapid.privateKey,
      PROVIDER_WEBPUSH_CA_FILE: this.caFile,
      PROVIDER_WEBPUSH_ALLOWED_HOSTS: 'localhost',
      // The fake push service is on loopback, which the gateway refuses unless told otherwise.
      PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: '127.0.0.1/32',
      // The Event Webhook's verification key, as SendGrid's Mail Settings page shows it.
      PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: this.sendgrid.eventWebhookPublicKey,
      ...(this.webhookPublicBaseUrl ? { WEBHOOK_PUBLIC_BASE_URL: this.webhookPublicBaseUrl } : {}),
    };
  }

  /**
   * Plays the ingress: posts to the public base URL now reach the gateway at `gatewayUrl`
   * (e.g. http://127.0.0.1:8080), once the gateway runs and its port is known.
   */
  routeWebhooksTo(gatewayUrl: string): void {
    if (this.webhookPublicBaseUrl === undefined) {
      throw new Error('the sandbox was started without webhooks: nothing would call the gateway');
    }
    const route = webhookIngress(this.webhookPublicBaseUrl, gatewayUrl);
    for (const fake of [this.twilio, this.twilioBackup, this.sendgrid, this.fcm, this.webPush]) {
      fake.setWebhookRoute(route);
    }
  }

  /** Every post the sandbox made to the gateway (callbacks, event batches, inbound messages, acks). */
  webhookPosts(): WebhookPost[] {
    return [
      ...this.twilio.webhookPosts,
      ...this.twilioBackup.webhookPosts,
      ...this.sendgrid.eventPosts,
      ...this.fcm.ackPosts,
      ...this.webPush.ackPosts,
    ];
  }

  /** Resolves once no fake has a callback, batch or ack scheduled or in flight. */
  async webhooksIdle(): Promise<void> {
    await Promise.all([
      this.twilio.webhooksIdle(),
      this.twilioBackup.webhooksIdle(),
      this.sendgrid.webhooksIdle(),
      this.fcm.webhooksIdle(),
      this.webPush.webhooksIdle(),
    ]);
  }

  fakes(): ProviderFake[] {
    return this.labelledFakes().map(([, fake]) => fake);
  }

  /** Each fake with the provider id the gateway knows it by. */
  labelledFakes(): Array<[string, ProviderFake]> {
    return [
      ['twilio', this.twilio],
      ['twilio_backup', this.twilioBackup],
      ['sendgrid', this.sendgrid],
      ['fcm', this.fcm],
      ['webpush', this.webPush],
    ];
  }

  /** A browser subscription on the sandbox push service, as a command's recipient carries it. */
  newWebPushSubscription(): {
    id: string;
    subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  } {
    const { id, subscription } = this.webPush.createSubscription();
    return {
      id,
      subscription: {
        endpoint: subscription.endpoint,
        keys: { p256dh: subscription.keys.p256dh, auth: subscription.keys.auth },
      },
    };
  }

  reset(): void {
    for (const fake of this.fakes()) fake.reset();
  }

  async close(): Promise<void> {
    await Promise.all(this.fakes().map((fake) => fake.close()));
  }
}
