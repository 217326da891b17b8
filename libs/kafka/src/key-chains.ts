/**
 * Splits a partition's batch into per-key chains that keep their relative order. Messages of one
 * key (one customer) run one after another; different keys run concurrently. A message without a
 * key forms a chain of its own, since nothing orders it against others.
 */
export function groupIntoKeyChains<T>(
  messages: readonly T[],
  keyOf: (message: T) => string | null,
): T[][] {
  const chains = new Map<string, T[]>();
  const unkeyed: T[][] = [];
  for (const message of messages) {
    const key = keyOf(message);
    if (key === null) {
      unkeyed.push([message]);
      continue;
    }
    const chain = chains.get(key);
    if (chain) chain.push(message);
    else chains.set(key, [message]);
  }
  return [...chains.values(), ...unkeyed];
}
