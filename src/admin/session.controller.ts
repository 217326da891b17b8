import { Controller, Get, UseFilters, UseGuards } from '@nestjs/common';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { Principal } from './auth/principal.decorator';
import { MinRole, type AdminPrincipal } from './auth/roles';
import { AdminProblemFilter } from './problem';

/** Who the credential belongs to and what it may do: the console's sign-in check. */
@Controller('admin/v1/me')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminSessionController {
  @Get()
  @MinRole('viewer')
  me(@Principal() caller: AdminPrincipal): AdminPrincipal {
    return { id: caller.id, role: caller.role, via: caller.via };
  }
}
