import { randomBytes } from 'node:crypto';
import { FakeSendGrid } from './sendgrid/fake-sendgrid';
import { FakeTwilio } from './twilio/fake-twilio';
import type { FailurePlan } from './core';

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
}

/**
 * Every provider fake at once, with the gateway environment that points the real SDKs at them:
 * two Twilio accounts (SMS fails over from the first to the second), SendGrid for email.
 */
export class SandboxSuite {
  private constructor(
    readonly twilio: FakeTwilio,
    readonly twilioBackup: FakeTwilio,
    readonly sendgrid: FakeSendGrid,
    readonly credentials: SandboxCredentials,
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
    return new SandboxSuite(twilio, twilioBackup, sendgrid, credentials);
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
    };
  }

  fakes(): Array<FakeTwilio | FakeSendGrid> {
    return this.labelledFakes().map(([, fake]) => fake);
  }

  /** Each fake with the provider id the gateway knows it by. */
  labelledFakes(): Array<[string, FakeTwilio | FakeSendGrid]> {
    return [
      ['twilio', this.twilio],
      ['twilio_backup', this.twilioBackup],
      ['sendgrid', this.sendgrid],
    ];
  }

  reset(): void {
    for (const fake of this.fakes()) fake.reset();
  }

  async close(): Promise<void> {
    await Promise.all(this.fakes().map((fake) => fake.close()));
  }
}
