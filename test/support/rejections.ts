/**
 * What `promise` rejected with, when that is a `type`; a promise that resolves, or rejects with
 * anything else, fails the test with what came instead.
 */
export async function rejectionOf<T>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => T,
): Promise<T> {
  const outcome = await promise.then(
    () => ({ rejected: false as const }),
    (reason: unknown) => ({ rejected: true as const, reason }),
  );
  if (!outcome.rejected) throw new Error(`expected a ${type.name}, but the promise resolved`);
  if (!(outcome.reason instanceof type)) {
    throw new Error(`expected a ${type.name}, got ${String(outcome.reason)}`);
  }
  return outcome.reason;
}
