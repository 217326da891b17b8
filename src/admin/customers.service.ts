import { Injectable } from '@nestjs/common';
import { ProfileRepository } from '../repositories/profile.repository';
import type { CustomerProfile } from '../policy/model';
import { AdminAuditRepository } from './admin-audit.repository';
import type { AdminPrincipal } from './auth/roles';
import { maskProfile, shouldMask } from './masking';
import { notFound } from './problem';

export interface CustomerView {
  readonly profile: CustomerProfile;
  /** Whether contacts were masked for the caller's role. */
  readonly masked: boolean;
}

/**
 * A customer's stored profile and preferences, masked to the caller's role. Whole contacts are
 * personal data read by a person: every unmasked read is in the audit log.
 */
@Injectable()
export class AdminCustomersService {
  constructor(
    private readonly profiles: ProfileRepository,
    private readonly audit: AdminAuditRepository,
  ) {}

  async get(customerId: string, caller: AdminPrincipal): Promise<CustomerView> {
    const profile = await this.profiles.get(customerId);
    if (!profile) throw notFound(`no stored profile for customer ${customerId}`);
    const masked = shouldMask(caller.role);
    if (!masked) {
      await this.audit.record({
        actorId: caller.id,
        actorRole: caller.role,
        action: 'read_unmasked',
        messageId: null,
        customerId,
        reason: "read the customer's profile with contacts unmasked",
        details: { what: 'profile' },
      });
    }
    return { profile: maskProfile(profile, caller.role), masked };
  }
}
