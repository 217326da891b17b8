/**
 * `node dist/scripts/cpu-profile-top.js FILE.cpuprofile [--top N]`: the N functions (default 10)
 * with the most self time in a profile written by `node --cpu-prof` (e.g. `npm run bench --
 * --cpu-prof DIR` for the gateway's).
 */
import { readFileSync } from 'node:fs';
import { topSelfTime, type CpuProfile } from './lib/cpu-profile';

function main(argv: readonly string[]): void {
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 10;
  const files = topAt >= 0 ? argv.filter((_, i) => i !== topAt && i !== topAt + 1) : argv;
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    console.error('usage: cpu-profile-top FILE.cpuprofile… [--top N (10)]');
    process.exit(64);
  }
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    console.log(`${file}: ${seconds.toFixed(1)} s profiled; top ${top} by self time`);
    for (const { frame, selfMicros, share } of topSelfTime(profile, top)) {
      const ms = (selfMicros / 1000).toFixed(0).padStart(8);
      console.log(`${ms} ms ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`);
    }
  }
}

main(process.argv.slice(2));
