/**
 * A histogram series read from the gateway's /metrics text, and the quantile of what it counted
 * between two readings, interpolated within a bucket as Prometheus's histogram_quantile does.
 */

/** Cumulative counts by upper bound (seconds), +Inf last, for one label set. */
export type HistogramReading = ReadonlyArray<{ readonly le: number; readonly count: number }>;

/**
 * The buckets of `name` whose labels include every one of `labels` (e.g. `lane="send"`), from
 * Prometheus's text format. Empty when the series is absent.
 */
export function parseHistogram(
  text: string,
  name: string,
  labels: readonly string[],
): HistogramReading {
  const buckets: Array<{ le: number; count: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const close = line.indexOf('}');
    const labelText = line.slice(line.indexOf('{') + 1, close);
    const pairs = labelText.split(',');
    if (!labels.every((label) => pairs.includes(label))) continue;
    const le = pairs.find((pair) => pair.startsWith('le='))?.slice(4, -1);
    if (le === undefined) continue;
    buckets.push({
      le: le === '+Inf' ? Infinity : Number(le),
      count: Number(line.slice(close + 1).trim()),
    });
  }
  return buckets.sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile (0..1) of the observations made between `before` and `after`, in the unit of
 * the bounds; NaN when nothing was observed. Linear within the bucket it falls in; in the +Inf
 * bucket it answers the highest finite bound (as Prometheus does).
 */
export function quantileBetween(
  before: HistogramReading,
  after: HistogramReading,
  q: number,
): number {
  const earlier = new Map(before.map((bucket) => [bucket.le, bucket.count]));
  const counts = after.map((bucket) => ({
    le: bucket.le,
    count: bucket.count - (earlier.get(bucket.le) ?? 0),
  }));
  const total = counts.at(-1)?.count ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of counts) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(1, count - below));
    }
    lower = le;
    below = count;
  }
  return lower;
}
