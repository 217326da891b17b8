import { Controller, Get, Query, UseFilters, UseGuards } from '@nestjs/common';
import { AdminAuditRepository, type AuditRecord } from './admin-audit.repository';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { MinRole } from './auth/roles';
import { AdminProblemFilter } from './problem';
import { auditQuerySchema, parseOrRefuse } from './schemas';

/** Who resent or overrode what, when and why; admins only. A plain read, so no service between. */
@Controller('admin/v1/audit')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminAuditController {
  constructor(private readonly audit: AdminAuditRepository) {}

  @Get()
  @MinRole('admin')
  async list(
    @Query() query: unknown,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const { limit, cursor } = parseOrRefuse(auditQuerySchema, query, 'query');
    return this.audit.list(limit, cursor);
  }
}
