import {
  raw,
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { WebhookAnswer, WebhookRequest } from '../../services/provider-webhooks.service';

/**
 * The largest webhook body taken. SendGrid's batches are the largest (hundreds of events, well
 * under a megabyte); a larger body is refused with 413 before it is read into memory.
 */
export const WEBHOOK_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

/**
 * The webhook routes' body parser, mounted on /webhooks before Nest's own: every body is kept as
 * the exact bytes received (any content type), because the signatures cover those bytes and a
 * parsed-and-reserialised body would not verify.
 */
export function webhookBodyParser(): [RequestHandler, ErrorRequestHandler] {
  const tooLarge: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    const status =
      typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 0;
    if (status !== 413 && status !== 400 && status !== 415) {
      next(error);
      return;
    }
    res
      .status(status)
      .type('text/plain')
      .send(status === 413 ? 'body too large' : 'unreadable body');
  };
  return [raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT_BYTES }), tooLarge];
}

/** The request as the use case needs it: path and query as received, the raw bytes, headers. */
export function webhookRequest(req: Request): WebhookRequest {
  const body: unknown = req.body;
  return {
    pathAndQuery: req.originalUrl,
    rawBody: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
    header: (name) => req.get(name),
  };
}

export function sendAnswer(res: Response, answer: WebhookAnswer): void {
  res.status(answer.status);
  if (answer.twiml !== undefined) {
    res.type('text/xml').send(answer.twiml);
  } else if (answer.status === 404) {
    res.type('text/plain').send('no such webhook');
  } else if (answer.problem !== undefined) {
    res.type('text/plain').send(answer.problem);
  } else {
    res.end();
  }
}
