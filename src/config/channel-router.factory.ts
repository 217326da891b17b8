import type { OnApplicationShutdown } from '@nestjs/common';
import type { Channel } from '@omnigate/contracts';
import {
  ChannelRouter,
  FcmPushAdapter,
  LogChannelAdapter,
  WebPushAdapter,
  ProtectedAdapter,
  PushAckTokens,
  pushAckUrl,
  SendGridEmailAdapter,
  TwilioSmsAdapter,
  TwilioWhatsAppAdapter,
  type BreakerStateChange,
  type ChannelAdapter,
  type PushAckIssuer,
  type SendPermits,
  type SendRate,
  type SendRateTable,
} from '@omnigate/channels';
import type { AppConfig } from './environment';
import type { ProviderSettings } from './providers';

/** Builds the adapter one configured provider uses for one channel. */
function adapterFor(
  settings: ProviderSettings,
  channel: Channel,
  config: AppConfig,
  pushAck: PushAckIssuer | undefined,
): ChannelAdapter {
  const webhookBaseUrl = config.webhooks.publicBaseUrl;
  // The pool has a socket for each call the router lets through (PROVIDER_<ID>_MAX_IN_FLIGHT).
  const common = {
    providerId: settings.id,
    requestTimeoutMs: settings.timeoutMs,
    maxSockets: settings.maxInFlight,
  };
  switch (settings.type) {
    case 'log':
      return new LogChannelAdapter(channel, {
        recordFile: config.channels.logAdapterRecordFile,
        latencyMs: config.channels.logAdapterLatencyMs,
      });
    case 'twilio': {
      const account = {
        ...common,
        accountSid: settings.accountSid,
        authToken: settings.authToken,
        baseUrl: settings.baseUrl,
      };
      if (channel === 'whatsapp') {
        return new TwilioWhatsAppAdapter({
          ...account,
          from: settings.whatsappFrom ?? '',
          contentSids: settings.whatsappTemplates,
          webhookBaseUrl,
        });
      }
      return new TwilioSmsAdapter({
        ...account,
        from: settings.from,
        messagingServiceSid: settings.messagingServiceSid,
        webhookBaseUrl,
      });
    }
    case 'sendgrid':
      return new SendGridEmailAdapter({
        ...common,
        apiKey: settings.apiKey,
        fromEmail: settings.fromEmail,
        fromName: settings.fromName,
        baseUrl: settings.baseUrl,
      });
    case 'fcm':
      return new FcmPushAdapter({
        ...common,
        serviceAccount: {
          project_id: settings.serviceAccount.projectId,
          client_email: settings.serviceAccount.clientEmail,
          private_key: settings.serviceAccount.privateKey,
        },
        endpointOverride: settings.endpointOverride,
        caCertPem: settings.caCertPem,
        ack: pushAck,
      });
    case 'webpush':
      return new WebPushAdapter({
        ...common,
        vapidSubject: settings.vapidSubject,
        vapidPublicKey: settings.vapidPublicKey,
        vapidPrivateKey: settings.vapidPrivateKey,
        caCertPem: settings.caCertPem,
        pushServiceHosts: settings.allowedHosts,
        allowedAddresses: settings.allowedAddresses,
        ack: pushAck,
      });
  }
}

/**
 * Each provider's PROVIDER_<ID>_RATE_LIMIT, for the SendPermits store. A provider serving two
 * channels (Twilio for SMS and WhatsApp) has one budget for both; give a sender its own budget by
 * configuring it as a provider id of its own.
 */
export function sendRateTable(config: AppConfig): SendRateTable {
  const rates = new Map<string, SendRate>();
  for (const settings of config.channels.providerSettings) {
    if (settings.rateLimit) rates.set(settings.id, settings.rateLimit);
  }
  return { rates, guardMs: config.channels.rateLimitGuardMs };
}

/**
 * One breaker-protected adapter per (provider, channel), grouped by channel in the priority order
 * of PROVIDERS_<CHANNEL>. Each provider has at most PROVIDER_<ID>_MAX_IN_FLIGHT calls in flight.
 * With `permits`, every provider call first takes a permit under its provider's send rate.
 */
export function buildChannelRouter(
  config: AppConfig,
  onBreakerChange: (change: BreakerStateChange) => void,
  permits?: SendPermits,
  onPermitCompletionFailed?: (providerId: string, error: unknown) => void,
): ChannelRouter {
  const byId = new Map(config.channels.providerSettings.map((s) => [s.id, s]));
  const { publicBaseUrl, pushAckTtlSeconds } = config.webhooks;
  // Pushes carry an ack only when the app has somewhere public to post it.
  const pushAck =
    publicBaseUrl === undefined
      ? undefined
      : new PushAckTokens(
          config.messageLog.key,
          config.messageLog.previousKeys,
          pushAckTtlSeconds,
        ).issuer(pushAckUrl(publicBaseUrl));
  const byChannel = new Map<Channel, ProtectedAdapter[]>();
  for (const [channel, ids] of Object.entries(config.channels.providers) as [
    Channel,
    readonly string[],
  ][]) {
    const adapters = ids.map((id) => {
      const settings = byId.get(id);
      if (!settings) throw new Error(`provider ${id} has no settings`);
      return new ProtectedAdapter(
        adapterFor(settings, channel, config, pushAck),
        config.channels.breaker,
        onBreakerChange,
      );
    });
    if (adapters.length > 0) byChannel.set(channel, adapters);
  }
  return new ChannelRouter(byChannel, {
    maxInFlight: new Map(config.channels.providerSettings.map((s) => [s.id, s.maxInFlight])),
    ...(permits && { permits }),
    ...(onPermitCompletionFailed && { onPermitCompletionFailed }),
  });
}

/** Closes the router's breakers and adapters once nothing sends any more. */
export class ChannelsLifecycle implements OnApplicationShutdown {
  constructor(private readonly router: ChannelRouter) {}

  async onApplicationShutdown(): Promise<void> {
    await this.router.shutdown();
  }
}
