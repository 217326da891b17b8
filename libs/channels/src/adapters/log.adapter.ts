import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel } from '@omnigate/contracts';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import { ChannelError } from '../channel-error';

export const LOG_PROVIDER_ID = 'log';

/** One line per message the log adapter took; no address or content, only what identifies it. */
export interface LoggedSend {
  readonly provider: typeof LOG_PROVIDER_ID;
  readonly channel: Channel;
  readonly messageId: string;
  readonly customerId: string;
  readonly providerMessageId: string;
  readonly contentBytes: number;
  readonly at: string;
}

export interface LogAdapterOptions {
  /** Append each send as a JSON line here; unset keeps only the structured log line. */
  readonly recordFile?: string;
  /** Pretend each send takes this long, to exercise concurrency and shutdown like a real provider. */
  readonly latencyMs?: number;
}

/**
 * A provider that sends nothing: it records what it would have sent. Chosen by configuration for
 * local runs and tests that are about the pipeline rather than a vendor.
 */
export class LogChannelAdapter<C extends Channel> implements ChannelAdapter<C> {
  readonly providerId = LOG_PROVIDER_ID;

  constructor(
    readonly channel: C,
    private readonly options: LogAdapterOptions = {},
  ) {}

  async send(message: OutboundMessage<C>): Promise<ProviderAcceptance> {
    if (this.options.latencyMs) await delay(this.options.latencyMs);
    const acceptedAt = new Date();
    const record: LoggedSend = {
      provider: LOG_PROVIDER_ID,
      channel: this.channel,
      messageId: message.messageId,
      customerId: message.customerId,
      providerMessageId: `log-${randomUUID()}`,
      contentBytes: Buffer.byteLength(JSON.stringify(message.content)),
      at: acceptedAt.toISOString(),
    };
    if (this.options.recordFile) {
      try {
        await appendFile(this.options.recordFile, `${JSON.stringify(record)}\n`);
      } catch (error) {
        throw new ChannelError('log adapter could not write its record file', {
          kind: 'configuration',
          provider: LOG_PROVIDER_ID,
          cause: error,
        });
      }
    }
    return { provider: LOG_PROVIDER_ID, providerMessageId: record.providerMessageId, acceptedAt };
  }
}
