import { json, type ErrorRequestHandler, type RequestHandler } from 'express';

/**
 * The admin routes' JSON body parser, mounted before Nest's own so its size limit applies: a
 * resend body is a few hundred bytes, and a larger one is refused with a problem document rather
 * than parsed.
 */
export function adminBodyParser(limitBytes: number): [RequestHandler, ErrorRequestHandler] {
  const problem: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    const status =
      typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 0;
    if (status !== 413 && status !== 400) {
      next(error);
      return;
    }
    res
      .status(status)
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: `https://omnigate.dev/problems/${status === 413 ? 'payload-too-large' : 'invalid-json'}`,
          title: status === 413 ? 'Payload too large' : 'Invalid JSON',
          status,
          detail:
            status === 413
              ? `admin request bodies are limited to ${limitBytes} bytes`
              : 'the body is not valid JSON',
        }),
      );
  };
  return [json({ limit: limitBytes }), problem];
}
