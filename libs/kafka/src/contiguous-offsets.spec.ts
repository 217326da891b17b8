import { ContiguousOffsets } from './contiguous-offsets';

describe('ContiguousOffsets', () => {
  it('advances only over an unbroken run of finished offsets', () => {
    const offsets = new ContiguousOffsets(['10', '11', '12', '13']);
    expect(offsets.markDone('12')).toBeUndefined();
    expect(offsets.commitPoint).toBeUndefined();
    expect(offsets.markDone('10')).toBe('10');
    expect(offsets.markDone('11')).toBe('12');
    expect(offsets.allDone).toBe(false);
    expect(offsets.markDone('13')).toBe('13');
    expect(offsets.allDone).toBe(true);
  });

  it('follows the batch order across gaps left by compaction or transaction markers', () => {
    const offsets = new ContiguousOffsets(['5', '9', '20']);
    expect(offsets.markDone('9')).toBeUndefined();
    expect(offsets.markDone('5')).toBe('9');
    expect(offsets.markDone('20')).toBe('20');
  });

  it('never moves backwards when an offset is reported twice', () => {
    const offsets = new ContiguousOffsets(['1', '2']);
    offsets.markDone('1');
    offsets.markDone('2');
    expect(offsets.markDone('1')).toBeUndefined();
    expect(offsets.commitPoint).toBe('2');
    expect(offsets.finishedCount).toBe(2);
  });
});

describe('ContiguousOffsets gaps', () => {
  it('names the unfinished offsets below the highest finished one', () => {
    const offsets = new ContiguousOffsets(['1', '2', '3', '4']);
    expect(offsets.isGapBelowFinished('1')).toBe(false);
    offsets.markDone('3');
    expect(offsets.isGapBelowFinished('1')).toBe(true);
    expect(offsets.isGapBelowFinished('2')).toBe(true);
    expect(offsets.isGapBelowFinished('4')).toBe(false);
  });
});
