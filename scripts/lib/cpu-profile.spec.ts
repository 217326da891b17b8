import { topSelfTime, type CpuProfile } from './cpu-profile';

const frame = (id: number, functionName: string, url = '', lineNumber = -1) => ({
  id,
  callFrame: { functionName, url, lineNumber },
});

describe('topSelfTime', () => {
  const profile: CpuProfile = {
    nodes: [
      frame(1, '(root)'),
      frame(2, 'parse', 'file:///app/dist/intake.js', 41),
      frame(3, '', 'file:///app/dist/router.js', 9),
      // The same function reached through another caller is another node, one frame.
      frame(4, 'parse', 'file:///app/dist/intake.js', 41),
      frame(5, '(garbage collector)'),
    ],
    startTime: 1000,
    endTime: 1100,
    // Samples at 1010, 1030, 1060, 1070, 1090; each lasts until the next, the last until endTime.
    samples: [2, 3, 4, 5, 2],
    timeDeltas: [10, 20, 30, 10, 20],
  };

  it('charges each sample the time until the next one, summed per frame', () => {
    expect(topSelfTime(profile, 10)).toEqual([
      { frame: 'parse file:///app/dist/intake.js:42', selfMicros: 40, share: 40 / 90 },
      { frame: '(anonymous) file:///app/dist/router.js:10', selfMicros: 30, share: 30 / 90 },
      { frame: '(garbage collector)', selfMicros: 20, share: 20 / 90 },
    ]);
  });

  it('keeps only the top N', () => {
    expect(topSelfTime(profile, 1).map((t) => t.frame)).toEqual([
      'parse file:///app/dist/intake.js:42',
    ]);
  });
});
