import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webPush from 'web-push';
import { FakeFcm, FakeWebPush, sandboxTls } from './push';
import { FakeSendGrid } from './sendgrid/fake-sendgrid';
import { FakeTwilio } from './twilio/fake-twilio';
import type { FailurePlan, ProviderFake } from './core';

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
}

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
    const twilio = await new FakeTwilio({
      accounts: { [credentials.twilio.accountSid]: credentials.twilio.authToken },
      failurePlan: plan,
    }).listen(ports.twilio ?? 0, host);
    const twilioBackup = await new FakeTwilio({
      accounts: { [credentials.twilioBackup.accountSid]: credentials.twilioBackup.authToken },
      failurePlan: plan,
    }).listen(ports.twilioBackup ?? 0, host);
    const sendgrid = await new FakeSendGrid({
      apiKeys: [credentials.sendgridApiKey],
      failurePlan: plan,
    }).listen(ports.sendgrid ?? 0, host);
    const fcm = await FakeFcm.start({ failurePlan: plan });
    const webPushService = await FakeWebPush.start({ failurePlan: plan });
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
    };
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
