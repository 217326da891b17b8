import { Injectable } from '@nestjs/common';
import { ProfileRepository } from '../repositories/profile.repository';
import type { CustomerProfile } from '../services/policy/model';
import type { AdminPrincipal } from './auth/roles';
import { maskProfile, shouldMask } from './masking';
import { notFound } from './problem';

export interface CustomerView {
  readonly profile: CustomerProfile;
  /** Whether contacts were masked for the caller's role. */
  readonly masked: boolean;
}

/** A customer's stored profile and preferences, masked to the caller's role. */
@Injectable()
export class AdminCustomersService {
  constructor(private readonly profiles: ProfileRepository) {}

  async get(customerId: string, caller: AdminPrincipal): Promise<CustomerView> {
    const profile = await this.profiles.get(customerId);
    if (!profile) throw notFound(`no stored profile for customer ${customerId}`);
    return { profile: maskProfile(profile, caller.role), masked: shouldMask(caller.role) };
  }
}
