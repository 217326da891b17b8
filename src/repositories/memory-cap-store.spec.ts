import type { CapRule } from '../policy/frequency-caps';
import type { ReserveRequest } from './cap-store';
import { MemoryCapStore } from './memory-cap-store';

// The contract shared with RedisCapStore is in cap-store.spec.ts; this file checks what only the
// in-process store has: bounded memory and its closed state.

const T0 = Date.parse('2025-03-01T09:00:00.000Z');
const HOUR = 3600_000;
const hourly: CapRule = { id: 'hourly', scope: {}, windowSeconds: 3600, limit: 5, overCap: 'cap' };

function request(customerId: string, offsetMs: number, reservationId: string): ReserveRequest {
  return {
    customerId,
    channel: 'email',
    category: 'news',
    rules: [hourly],
    now: new Date(T0 + offsetMs),
    reservationId,
    force: false,
  };
}

describe('MemoryCapStore', () => {
  it('sweeps windows whose entries have all left, so idle customers do not pile up', async () => {
    const store = new MemoryCapStore({ sweepEvery: 3 });
    await store.reserve(request('idle', 0, 'r1'));
    await store.reserve(request('busy', 0, 'r2'));
    expect(store.size).toBe(2);
    // The third reservation triggers a sweep at T0 + 2 h: both earlier windows are dead by then.
    await store.reserve(request('busy', 2 * HOUR, 'r3'));
    expect(store.size).toBe(1);
  });

  it('drops a window when its last reservation is released', async () => {
    const store = new MemoryCapStore();
    const result = await store.reserve(request('c', 0, 'r1'));
    if (!result.granted) throw new Error('refused');
    await store.release(result.reservation);
    expect(store.size).toBe(0);
  });

  it('does not keep an empty window for a refused reservation', async () => {
    const store = new MemoryCapStore();
    const tight: CapRule = { ...hourly, id: 'tight', limit: 1 };
    const other: CapRule = { ...hourly, id: 'other', scope: { channel: 'email' } };
    await store.reserve({ ...request('c', 0, 'r1'), rules: [tight] });
    await store.reserve({ ...request('c', 1, 'r2'), rules: [other, tight] });
    expect(store.size).toBe(1);
  });

  it('rejects use after close', async () => {
    const store = new MemoryCapStore();
    await store.close();
    await expect(store.reserve(request('c', 0, 'r1'))).rejects.toThrow('closed');
    await expect(
      store.release({ customerId: 'c', reservationId: 'r1', ruleIds: ['hourly'] }),
    ).rejects.toThrow('closed');
  });
});
