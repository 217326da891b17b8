import { Controller, Get, UseFilters, UseGuards } from '@nestjs/common';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { MinRole } from './auth/roles';
import { adminOpenApiDocument } from './openapi';
import { AdminProblemFilter } from './problem';

@Controller('admin/v1')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminOpenApiController {
  private readonly document = adminOpenApiDocument();

  @Get('openapi.json')
  @MinRole('viewer')
  openapi(): Record<string, unknown> {
    return this.document;
  }
}
