import { parseHistogram, quantileBetween } from './prometheus-histogram';

const exposition = (counts: readonly number[]) =>
  [
    '# HELP wait_seconds Wait',
    '# TYPE wait_seconds histogram',
    ...[0.01, 0.1, 1].map((le, i) => `wait_seconds_bucket{le="${le}",lane="send"} ${counts[i]}`),
    `wait_seconds_bucket{le="+Inf",lane="send"} ${counts[3]}`,
    'wait_seconds_bucket{le="0.01",lane="priority"} 99',
    'wait_seconds_bucket{le="+Inf",lane="priority"} 99',
    `wait_seconds_sum{lane="send"} 1`,
    `wait_seconds_count{lane="send"} ${counts[3]}`,
  ].join('\n');

describe('a histogram from /metrics', () => {
  it('reads the buckets of one label set in bound order', () => {
    expect(parseHistogram(exposition([1, 2, 3, 4]), 'wait_seconds', ['lane="send"'])).toEqual([
      { le: 0.01, count: 1 },
      { le: 0.1, count: 2 },
      { le: 1, count: 3 },
      { le: Infinity, count: 4 },
    ]);
    expect(parseHistogram(exposition([1, 2, 3, 4]), 'other_seconds', [])).toEqual([]);
  });

  it('answers quantiles of what was counted between two readings, within the bucket', () => {
    const before = parseHistogram(exposition([10, 10, 10, 10]), 'wait_seconds', ['lane="send"']);
    // 100 more, all between 0.01 and 0.1 s.
    const after = parseHistogram(exposition([10, 110, 110, 110]), 'wait_seconds', ['lane="send"']);
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.055);
    expect(quantileBetween(before, after, 0.99)).toBeCloseTo(0.0991);
    expect(quantileBetween(before, before, 0.5)).toBeNaN();
  });

  it('answers the highest finite bound for a quantile past it', () => {
    const after = parseHistogram(exposition([0, 0, 0, 5]), 'wait_seconds', ['lane="send"']);
    expect(quantileBetween([], after, 0.99)).toBe(1);
  });
});
