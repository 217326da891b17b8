import { jsonTextExceedsDepth, valueExceedsDepth } from './json-depth';

const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe('jsonTextExceedsDepth', () => {
  it.each([
    ['a scalar', '1', 0, false],
    ['an empty object at the limit', '{}', 1, false],
    ['an object inside an object, limit 1', '{"a":{}}', 1, true],
    ['32 arrays at a limit of 32', nestedArrays(32), 32, false],
    ['33 arrays at a limit of 32', nestedArrays(33), 32, true],
    ['brackets inside a string do not count', '{"a":"[[[[[[{{{{"}', 1, false],
    ['an escaped quote does not end the string', '{"a":"\\"[[[["}', 1, false],
    ['an escaped backslash before the closing quote', '{"a":"\\\\","b":[[1]]}', 2, true],
    ['siblings do not add up', '[[1],[2],[3],[4]]', 2, false],
    ['stray closing brackets do not hide what follows', ']]]][[', 1, true],
    ['fewer brackets than the limit, in and out of strings', '{"a":"[{","b":[1]}', 4, false],
    [
      'more brackets than the limit, most of them in a string',
      `[{"a":"${'['.repeat(40)}"}]`,
      2,
      false,
    ],
  ])('%s', (_label, text, limit, expected) => {
    expect(jsonTextExceedsDepth(text, limit)).toBe(expected);
  });

  it('scans a megabyte of brackets without recursion', () => {
    expect(jsonTextExceedsDepth(nestedArrays(500_000), 32)).toBe(true);
  });
});

describe('valueExceedsDepth', () => {
  it.each([
    ['a scalar', 'text', 1, false],
    ['null', null, 1, false],
    ['an object at the limit', { a: { b: 1 } }, 2, false],
    ['an object over the limit', { a: { b: {} } }, 2, true],
    ['an array of objects', [{ a: [1] }], 3, false],
  ])('%s', (_label, value, limit, expected) => {
    expect(valueExceedsDepth(value, limit)).toBe(expected);
  });

  it('walks a value 100,000 levels deep without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(valueExceedsDepth(deep, 32)).toBe(true);
  });

  it('stops on a cycle once it is deeper than the limit', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(valueExceedsDepth(cyclic, 8)).toBe(true);
  });
});
