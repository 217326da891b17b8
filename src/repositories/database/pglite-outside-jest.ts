import * as nodeModule from 'node:module';
import type * as PGliteModule from '@electric-sql/pglite';
import type { PGliteOptions } from '@electric-sql/pglite';

/**
 * For Jest only. PGlite's Node build starts with `await import('module')`, and Jest's sandbox
 * rejects dynamic import() unless Node runs with --experimental-vm-modules
 * (electric-sql/pglite#224). Jest also routes `createRequire` to its own loader, so this takes
 * Node's CommonJS loader directly, which compiles PGlite outside the sandbox. Use it as
 *
 *   jest.mock('@electric-sql/pglite', () =>
 *     jest.requireActual<typeof import('./pglite-outside-jest')>('./pglite-outside-jest')
 *       .pgliteOutsideJest());
 *
 * Node's module cache outlives Jest's per-file registry, so the compiled WebAssembly is reused by
 * every spec file a Jest worker runs.
 */
export function pgliteOutsideJest(): typeof PGliteModule {
  const { Module } = nodeModule as unknown as {
    Module: { _load(request: string, parent: null): unknown };
  };
  const real = Module._load(require.resolve('@electric-sql/pglite'), null) as typeof PGliteModule;
  // PGlite now lives in another realm: its `value instanceof Date` is false for the specs' Dates
  // and it would reject them, so date parameters get a realm-blind serializer.
  const serializers = Object.fromEntries(
    [1082 /* date */, 1114 /* timestamp */, 1184 /* timestamptz */].map((oid) => [
      oid,
      serializeDate,
    ]),
  );
  const PGlite = {
    create: (options: PGliteOptions = {}) =>
      real.PGlite.create({
        ...options,
        serializers: { ...serializers, ...options.serializers },
      }),
  };
  return { ...real, PGlite } as unknown as typeof PGliteModule;
}

function serializeDate(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return new Date(value).toISOString();
  if (Object.prototype.toString.call(value) === '[object Date]') {
    return (value as Date).toISOString();
  }
  throw new Error(`invalid input for a date parameter: ${String(value)}`);
}
