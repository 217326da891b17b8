import { Controller, Get, Param, UseFilters, UseGuards } from '@nestjs/common';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { Principal } from './auth/principal.decorator';
import { MinRole, type AdminPrincipal } from './auth/roles';
import { AdminCustomersService, type CustomerView } from './customers.service';
import { AdminProblemFilter } from './problem';
import { customerIdSchema, parseOrRefuse } from './schemas';

@Controller('admin/v1/customers')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminCustomersController {
  constructor(private readonly customers: AdminCustomersService) {}

  @Get(':customerId')
  @MinRole('viewer')
  async get(
    @Param('customerId') customerId: string,
    @Principal() caller: AdminPrincipal,
  ): Promise<CustomerView> {
    return this.customers.get(parseOrRefuse(customerIdSchema, customerId, 'customerId'), caller);
  }
}
