/**
 * `node dist/scripts/cpu-profile-top.js FILE.cpuprofile [--top N] [--by-package]`: the N functions
 * (default 10) with the most self time in a profile written by `node --cpu-prof` (e.g. `npm run
 * bench -- --cpu-prof DIR` for the gateway's); with `--by-package`, the N packages and build
 * folders that own the most time, Node's own and native calls counted for their caller.
 */
import { readFileSync } from 'node:fs';
import { topPackageTime, topSelfTime, type CpuProfile } from './lib/cpu-profile';

function main(argv: readonly string[]): void {
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 10;
  const byPackage = argv.includes('--by-package');
  const files = argv.filter(
    (arg, i) => arg !== '--by-package' && (topAt < 0 || (i !== topAt && i !== topAt + 1)),
  );
  // An unknown flag (`--help`) gets the usage, not an attempt to read a file of that name.
  const unknownFlag = files.some((arg) => arg.startsWith('-'));
  if (files.length === 0 || unknownFlag || !Number.isInteger(top) || top < 1) {
    console.error('usage: cpu-profile-top FILE.cpuprofile… [--top N (10)] [--by-package]');
    process.exit(64);
  }
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    const what = byPackage ? 'packages and build folders by time' : 'by self time';
    console.log(`${file}: ${seconds.toFixed(1)} s profiled; top ${top} ${what}`);
    const rows = byPackage ? topPackageTime(profile, top) : topSelfTime(profile, top);
    for (const { frame, selfMicros, share } of rows) {
      const ms = (selfMicros / 1000).toFixed(0).padStart(8);
      console.log(`${ms} ms ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`);
    }
  }
}

main(process.argv.slice(2));
