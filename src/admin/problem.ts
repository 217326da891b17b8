import {
  Catch,
  HttpException,
  HttpStatus,
  Inject,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Response } from 'express';
import { LOGGER, type Logger } from '../observability/logger';

/** An RFC 9457 problem document, as the admin API answers every refusal. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly [extension: string]: unknown;
}

const TYPE_BASE = 'https://omnigate.dev/problems/';

/** A refusal the admin API means to give: the status, a stable type slug, and words for a person. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
    /** Seconds, sent as Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(detail);
    this.name = 'ProblemError';
  }

  toDocument(): ProblemDocument {
    return {
      ...this.extensions,
      type: `${TYPE_BASE}${this.slug}`,
      title: this.title,
      status: this.status,
      detail: this.detail,
    };
  }
}

export const unauthenticated = (detail: string): ProblemError =>
  new ProblemError(HttpStatus.UNAUTHORIZED, 'unauthenticated', 'Unauthenticated', detail);
export const forbidden = (detail: string): ProblemError =>
  new ProblemError(HttpStatus.FORBIDDEN, 'forbidden', 'Forbidden', detail);
export const notFound = (detail: string): ProblemError =>
  new ProblemError(HttpStatus.NOT_FOUND, 'not-found', 'Not found', detail);
export const invalidRequest = (detail: string): ProblemError =>
  new ProblemError(HttpStatus.BAD_REQUEST, 'invalid-request', 'Invalid request', detail);
export const conflict = (slug: string, detail: string, extensions = {}): ProblemError =>
  new ProblemError(HttpStatus.CONFLICT, slug, 'Conflict', detail, extensions);
export const tooManyRequests = (detail: string, retryAfterSeconds: number): ProblemError =>
  new ProblemError(
    HttpStatus.TOO_MANY_REQUESTS,
    'rate-limited',
    'Too many requests',
    detail,
    {},
    retryAfterSeconds,
  );

/**
 * Turns every error of an admin route into a problem document. Unexpected errors are logged and
 * answered as a bare 500, so no stack or SQL reaches the caller.
 */
@Catch()
export class AdminProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let problem: ProblemError;
    if (error instanceof ProblemError) problem = error;
    else if (error instanceof HttpException) {
      const status = error.getStatus();
      // Express's body parser reports an oversized or malformed body through Nest as HttpException.
      problem = new ProblemError(
        status,
        status === 413 ? 'payload-too-large' : 'http-error',
        error.name,
        error.message,
      );
    } else {
      this.logger.error(
        { error: error instanceof Error ? error.message : String(error), component: 'admin' },
        'admin request failed',
      );
      problem = new ProblemError(
        HttpStatus.INTERNAL_SERVER_ERROR,
        'internal',
        'Internal error',
        'the request failed on our side; it was logged',
      );
    }
    if (problem.retryAfter !== undefined) {
      response.setHeader('Retry-After', String(Math.max(1, Math.ceil(problem.retryAfter))));
    }
    response
      .status(problem.status)
      .type('application/problem+json')
      .send(JSON.stringify(problem.toDocument()));
  }
}
