import { InvalidOptionError } from '@zapjobs/core/storage';

/**
 * Encodes a page position as an opaque string. Callers must pass it back unchanged; its
 * content (a tagged JSON value in base64url) is not part of the public API.
 */
export function encodeCursor(kind: string, position: string | number): string {
  return Buffer.from(JSON.stringify([kind, position]), 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; throws InvalidOptionError for any other. */
export function decodeCursor<T extends string | number>(
  kind: string,
  cursor: string,
  expectedType: 'string' | 'number',
): T {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(decoded) &&
      decoded.length === 2 &&
      decoded[0] === kind &&
      typeof decoded[1] === expectedType
    ) {
      return decoded[1] as T;
    }
  } catch {
    // Falls through to the error below.
  }
  throw new InvalidOptionError(
    'cursor',
    cursor,
    `a nextCursor returned by a previous ${kind} page`,
  );
}
