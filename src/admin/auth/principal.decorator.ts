import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { unauthenticated } from '../problem';
import type { AdminRequest } from './admin-auth.guard';
import type { AdminPrincipal } from './roles';

/** The caller the guard authenticated. */
export const Principal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AdminPrincipal => {
    const principal = context.switchToHttp().getRequest<AdminRequest>().adminPrincipal;
    if (!principal) throw unauthenticated('no authenticated caller');
    return principal;
  },
);
