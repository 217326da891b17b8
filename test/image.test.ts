import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IMAGE_NODE_OPTIONS } from '../scripts/lib/gateway-node-options';
import { NODE_FLAGS, ROOT } from './support/gateway';

/**
 * The container image cannot be built on these machines (no Docker engine), so what can be
 * checked is checked here: the Dockerfile runs the very start command the integration tests run,
 * as a numeric non-root user, in exec form; and the production dependencies alone (what
 * `npm ci --omit=dev` installs in the image) hold every package the built service loads.
 */
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The instructions of the last stage, which is what runs. */
function runtimeStage(): string[] {
  const stages = dockerfile.split(/^FROM /m).slice(1);
  return stages[stages.length - 1]!.split('\n').map((line) => line.trim());
}

describe('the container image', () => {
  it('builds on node:24-slim in stages and keeps dev dependencies out of the runtime', () => {
    expect(dockerfile.match(/^FROM node:24-slim AS \w+$/gm)).toHaveLength(2);
    const stage = runtimeStage().join('\n');
    expect(stage).toContain('npm ci --omit=dev');
    expect(stage).toContain('COPY --from=build /app/dist ./dist');
  });

  it('runs as a numeric non-root user, with SIGTERM as the stop signal', () => {
    const user = runtimeStage().find((line) => line.startsWith('USER '));
    const [uid, gid] = (user ?? '').slice(5).split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    expect(runtimeStage()).toContain('STOPSIGNAL SIGTERM');
  });

  it('starts with the command the tests run, in exec form, which is also npm start', () => {
    const line = runtimeStage().find((l) => l.startsWith('ENTRYPOINT '));
    const entrypoint = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
    expect(entrypoint).toEqual(['node', ...NODE_FLAGS, 'dist/src/main.js']);
    expect(pkg.scripts.start).toBe(entrypoint.join(' '));
  });

  it('sets the heap limit the benchmark runs the gateway with', () => {
    const settings = runtimeStage().filter((line) => /^(ENV )?NODE_OPTIONS=/.test(line));
    expect(settings).toEqual([`ENV NODE_OPTIONS=${IMAGE_NODE_OPTIONS}`]);
  });

  it('leaves build output, dependencies, tests and secrets out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git', 'test', 'test-output', '.env']) {
      expect(ignored).toContain(entry);
    }
  });

  it('needs only production dependencies to load the built service', () => {
    const main = join(ROOT, 'dist', 'src', 'main.js');
    expect(existsSync(main)).toBe(true);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const seen = new Set<string>();
    const packages = new Set<string>();
    const queue = [main];
    // Follows the compiled require graph from main.js: relative requires are files of the build,
    // bare ones are packages (the scope and name, without a subpath).
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const [, specifier] of source.matchAll(/require\("([^"]+)"\)/g)) {
        if (specifier!.startsWith('.')) {
          const target = resolve(dirname(file), specifier!);
          const candidates = [target, `${target}.js`, join(target, 'index.js')];
          queue.push(candidates.find((c) => existsSync(c) && c.endsWith('.js')) ?? `${target}.js`);
        } else if (!builtins.has(specifier!)) {
          const parts = specifier!.split('/');
          packages.add(specifier!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
        }
      }
    }
    expect(seen.size).toBeGreaterThan(50);
    const notProduction = [...packages].filter((name) => !(name in pkg.dependencies)).sort();
    expect(notProduction).toEqual([]);
    // The sandbox (test fakes) is not part of what the service loads.
    expect([...seen].some((file) => file.includes(join('libs', 'sandbox')))).toBe(false);
  });
});
