/**
 * Writes the JSON Schema files for the public contracts (npm run contracts:generate).
 * Pass --check to only verify that the committed files are current (exit code 1 if not).
 *
 * Runs both from source and as dist/scripts/generate-json-schemas.js, so the output folder is found
 * from the repository root rather than from this file's location. The import is relative so the
 * compiled script needs no path-alias rewriting.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JSON_SCHEMA_DIR, renderJsonSchemas } from '../libs/contracts/src';

/** Walks up to the folder holding package.json and the contracts sources. dist/ can also hold a
 *  package.json copy (resolveJsonModule), so package.json alone is not proof of the root. */
function findRepoRootFrom(start: string): string | null {
  let dir = start;
  for (;;) {
    if (
      existsSync(join(dir, 'package.json')) &&
      existsSync(join(dir, 'libs', 'contracts', 'src', 'index.ts'))
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** From this file first; the working directory covers a build placed outside the repository. */
function findRepoRoot(): string {
  const root = findRepoRootFrom(__dirname) ?? findRepoRootFrom(process.cwd());
  if (root === null) throw new Error(`no repository root found above ${__dirname} or the cwd`);
  return root;
}

function main(): number {
  const check = process.argv.includes('--check');
  const outDir = join(findRepoRoot(), JSON_SCHEMA_DIR);
  const stale: string[] = [];
  for (const [fileName, text] of Object.entries(renderJsonSchemas())) {
    const path = join(outDir, fileName);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (current === text) continue;
    stale.push(path);
    if (!check) {
      mkdirSync(outDir, { recursive: true });
      writeFileSync(path, text);
    }
  }
  if (check && stale.length > 0) {
    console.error(`out of date: ${stale.join(', ')} (run npm run contracts:generate)`);
    return 1;
  }
  console.log(stale.length > 0 ? `wrote ${stale.join(', ')}` : 'JSON Schemas are up to date');
  return 0;
}

process.exitCode = main();
