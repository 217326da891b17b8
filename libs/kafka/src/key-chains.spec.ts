import { groupIntoKeyChains } from './key-chains';

describe('groupIntoKeyChains', () => {
  it('keeps each key in its original order and separates keys', () => {
    const input = ['a1', 'b1', 'a2', 'c1', 'b2', 'a3'];
    const chains = groupIntoKeyChains(input, (m) => m[0] ?? null);
    expect(chains).toEqual([['a1', 'a2', 'a3'], ['b1', 'b2'], ['c1']]);
  });

  it('gives every unkeyed record a chain of its own', () => {
    const chains = groupIntoKeyChains(['x', 'y'], () => null);
    expect(chains).toEqual([['x'], ['y']]);
  });
});
