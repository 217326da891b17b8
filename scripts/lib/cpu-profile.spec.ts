import { packageOf, topPackageTime, topSelfTime, type CpuProfile } from './cpu-profile';

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

describe('topPackageTime', () => {
  const node = (
    id: number,
    functionName: string,
    url: string,
    children: readonly number[] = [],
  ) => ({ id, callFrame: { functionName, url, lineNumber: 0 }, children });
  const profile: CpuProfile = {
    nodes: [
      node(1, '(root)', '', [2, 7, 8, 9]),
      node(2, 'claim', 'file:///app/dist/src/repositories/log.js', [3]),
      node(3, 'query', 'file:///app/node_modules/pg/lib/client.js', [4]),
      node(4, 'writev', '', []),
      node(7, 'encrypt', 'file:///app/node_modules/web-push/node_modules/http_ece/ece.js', [10]),
      node(8, '(garbage collector)', ''),
      node(9, 'emit', 'node:events'),
      node(10, 'computeSecret', 'node:internal/crypto/diffiehellman'),
    ],
    startTime: 0,
    endTime: 100,
    // 10 µs each until the last, which lasts until endTime (40 µs).
    samples: [2, 4, 4, 10, 8, 9, 1],
    timeDeltas: [0, 10, 10, 10, 10, 10, 10],
  };

  it("charges Node's and native frames to the innermost package or build folder above them", () => {
    expect(topPackageTime(profile, 10)).toEqual([
      { frame: '(node internals)', selfMicros: 50, share: 0.5 },
      { frame: 'pg', selfMicros: 20, share: 0.2 },
      { frame: 'src/repositories', selfMicros: 10, share: 0.1 },
      { frame: 'http_ece', selfMicros: 10, share: 0.1 },
      { frame: '(garbage collector)', selfMicros: 10, share: 0.1 },
    ]);
  });

  it('names a package, a scoped package, a build folder and a file at the top of the build', () => {
    expect(packageOf('file:///app/node_modules/@sendgrid/mail/src/mail.js')).toBe('@sendgrid/mail');
    expect(packageOf('file:///app/node_modules/a/node_modules/b/index.js')).toBe('b');
    expect(packageOf('file:///app/dist/libs/channels/src/router.js')).toBe('libs/channels');
    expect(packageOf('file:///app/dist/src/main.js')).toBe('src/main.js');
    expect(packageOf('file:///home/dist/app/dist/libs/kafka/src/runner.js')).toBe('libs/kafka');
    expect(packageOf('node:internal/streams/writable')).toBeUndefined();
  });
});
