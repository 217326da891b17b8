/**
 * Nesting limits checked before any recursive work. JSON.parse copes with deep input, but the
 * schema validation, canonical stringify and sealing that follow recurse once per level, so a few
 * kilobytes of `[[[[…` would overflow the stack there and stop a partition.
 */
export const DEFAULT_MAX_JSON_DEPTH = 32;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * True when the JSON text nests objects and arrays deeper than `maxDepth`. A linear scan that
 * skips string contents; it does not validate the text (JSON.parse does that next), so for
 * malformed text it answers about the brackets it saw.
 */
export function jsonTextExceedsDepth(text: string, maxDepth: number): boolean {
  // Nesting can never be deeper than the text has opening brackets, strings included. Counting
  // them natively settles an ordinary command (a dozen of them) at a tenth of the walk's cost.
  if (openingBracketsUpTo(text, maxDepth + 1) <= maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i += 1;
      else if (code === QUOTE) inString = false;
      continue;
    }
    if (code === QUOTE) inString = true;
    else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if ((code === CLOSE_OBJECT || code === CLOSE_ARRAY) && depth > 0) depth -= 1;
  }
  return false;
}

/** How many `{` and `[` the text holds, counting no further than `limit`. */
function openingBracketsUpTo(text: string, limit: number): number {
  let count = 0;
  for (const bracket of ['{', '[']) {
    for (
      let at = text.indexOf(bracket);
      at !== -1 && count < limit;
      at = text.indexOf(bracket, at + 1)
    ) {
      count += 1;
    }
  }
  return count;
}

/**
 * True when an already-parsed value (an HTTP body, say) nests objects and arrays deeper than
 * `maxDepth`. Iterative, so the check itself cannot overflow the stack.
 */
export function valueExceedsDepth(value: unknown, maxDepth: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    const depth = next.depth + 1;
    if (depth > maxDepth) return true;
    const children = Array.isArray(next.value) ? next.value : Object.values(next.value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) pending.push({ value: child, depth });
    }
  }
  return false;
}
