import { invalidRequest } from './problem';

/**
 * Opaque page cursors: base64url JSON of the sort key of the last row served. Callers must not
 * build them; a malformed one is a 400, not an empty page.
 */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, length: number): string[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parts) &&
      parts.length === length &&
      parts.every((part) => typeof part === 'string' && part.length <= 256)
    ) {
      return parts as string[];
    }
  } catch {
    // falls through to the refusal
  }
  throw invalidRequest('cursor is not one this API handed out');
}
