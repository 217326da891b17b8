/**
 * Runs every close step in order, each even when one before it threw, then throws what failed:
 * the one error itself, or an AggregateError of several. A `finally` that awaits its closes one
 * after another stops at the first that throws and leaves the rest (a broker connection, a
 * server, a consumer group) open, so the script hangs or the next run meets them.
 */
export async function closeEach(
  steps: ReadonlyArray<() => unknown>,
  what = 'closing the benchmark',
): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new AggregateError(failures, `${failures.length} steps failed while ${what}`);
  }
}

/**
 * After `failure`, closes what was opened for the work that failed (closeEach), then throws:
 * `failure` itself, or, when a close fails too, an AggregateError of `failure` first and the close's
 * error, so neither is lost and the work's error stays the first one read.
 */
export async function closeAfterFailure(
  failure: unknown,
  steps: ReadonlyArray<() => unknown>,
  what: string,
): Promise<never> {
  try {
    await closeEach(steps, what);
  } catch (closing) {
    throw new AggregateError([failure, closing], `${what} failed, and so did closing after it`, {
      cause: closing,
    });
  }
  throw failure;
}
