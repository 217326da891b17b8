/** The message of anything thrown, for errors that name their cause. */
export function messageOf(error: unknown): string {
  // Duck-typed, not instanceof: socket errors come from Node's own realm, which under Jest is
  // not the realm of this module's Error.
  if (typeof error !== 'object' || error === null) return String(error);
  const { message, errors } = error as { message?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.length > 0) {
    // A refused connection to every address a host name resolves to arrives as one
    // AggregateError with an empty message.
    return errors.map(messageOf).join('; ');
  }
  if (typeof message === 'string' && message !== '') return message;
  return Object.prototype.toString.call(error);
}
