import { Inject, Injectable } from '@nestjs/common';
import type { Channel, SendCommand } from '@omnigate/contracts';
import type { ProviderAttempt } from '@omnigate/channels';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { addressIdentity, suppressionFromAttempt } from '../policy/address-feedback';
import { resolveContact } from '../policy/contact-merge';
import type {
  CategoryPolicy,
  ChannelCandidate,
  CustomerProfile,
  Suppression,
} from '../policy/model';
import { channelOrder } from '../policy/planner';
import { AddressHasher } from '../repositories/address-hasher';
import {
  AddressSuppressionRepository,
  ALL_CATEGORIES,
  type AddressSuppression,
} from '../repositories/address-suppression.repository';
import { Clock } from '../repositories/clock';
import { ProfileRepository } from '../repositories/profile.repository';

/** The planner's question: is this address suppressed on this channel for this category? */
export type SuppressionCheck = (
  channel: Channel,
  address: string,
  category: string,
) => Suppression | undefined;

/**
 * Suppressed addresses as dispatch and the admin's resend preview see them: the planner's check,
 * answered from one lookup over the hashes (under every key, so a rotation keeps them) of the
 * address each channel of the plan could use; and the suppressions a provider's refusal calls
 * for (a gone push subscription or token, a number whose owner replied STOP).
 */
@Injectable()
export class AddressSuppressionsService {
  private readonly hasher: AddressHasher;

  constructor(
    private readonly suppressions: AddressSuppressionRepository,
    private readonly profiles: ProfileRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.hasher = new AddressHasher(config.messageLog.key, config.messageLog.previousKeys);
  }

  async checkFor(
    command: SendCommand,
    profile: CustomerProfile | null,
    policy: CategoryPolicy,
  ): Promise<SuppressionCheck> {
    const hashesOf = (channel: Channel, address: string) =>
      this.hasher.all(channel, addressIdentity(channel, address));
    const hashes = channelOrder(command, profile, policy).flatMap((channel) => {
      const contact = resolveContact(channel, command, profile);
      return contact ? hashesOf(channel, contact.address) : [];
    });
    const found = await this.suppressions.findByHashes(hashes);
    if (found.length === 0) return () => undefined;
    return (channel, address, category) => {
      const mine = new Set(hashesOf(channel, address));
      const applies = (row: AddressSuppression) =>
        row.channel === channel &&
        mine.has(row.addressHash) &&
        (row.scope === ALL_CATEGORIES || row.scope === category);
      // Every-category rows first: they say the most.
      const row =
        found.find((item) => applies(item) && item.scope === ALL_CATEGORIES) ?? found.find(applies);
      return row && { reason: row.reason, scope: row.scope, since: row.createdAt.toISOString() };
    };
  }

  /**
   * A provider that refused the address itself gets it suppressed for every category, and a gone
   * push address leaves the stored profile (its version stays).
   */
  async recordRefusal(
    command: SendCommand,
    { channel, address }: ChannelCandidate,
    attempts: readonly ProviderAttempt[],
  ): Promise<void> {
    const reason = attempts
      .map((attempt) => suppressionFromAttempt(channel, attempt))
      .find((found) => found !== undefined);
    if (reason === undefined) return;
    const identity = addressIdentity(channel, address);
    await this.suppressions.add([
      {
        channel,
        addressHash: this.hasher.hash(channel, identity),
        scope: ALL_CATEGORIES,
        reason,
        source: `dispatch:${command.id}`,
        createdAt: this.clock.now(),
      },
    ]);
    const removed =
      (channel === 'webpush' || channel === 'mobilepush') &&
      (await this.profiles.removePushAddress(command.customerId, channel, identity));
    this.logger.info(
      { messageId: command.id, customerId: command.customerId, channel, reason, removed },
      'provider refused the address; suppressed',
    );
  }
}
