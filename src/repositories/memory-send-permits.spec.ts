import type { SendPermit, SendRate } from '@omnigate/channels';
import { MemorySendPermits } from './memory-send-permits';

/** A store on a clock the test moves by hand. */
function storeAt(
  rates: Record<string, SendRate>,
  guardMs = 0,
): { store: MemorySendPermits; clock: { ms: number } } {
  const clock = { ms: 1_000_000 };
  const store = new MemorySendPermits(
    { rates: new Map(Object.entries(rates)), guardMs },
    { now: () => clock.ms },
  );
  return { store, clock };
}

async function acquireMany(
  store: MemorySendPermits,
  providerId: string,
  count: number,
): Promise<SendPermit[]> {
  const permits: SendPermit[] = [];
  for (let i = 0; i < count; i += 1) permits.push(await store.acquire(providerId));
  return permits;
}

const granted = (permits: readonly SendPermit[]) => permits.filter((p) => p.granted).length;

describe('MemorySendPermits', () => {
  it('grants the limit, then refuses with the wait until the oldest grant leaves the window', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 3, windowMs: 1000 } });
    await store.acquire('twilio');
    clock.ms += 200;
    expect(granted(await acquireMany(store, 'twilio', 2))).toBe(2);
    clock.ms += 100;
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 700 });
  });

  it('slides: room comes back one grant at a time, not all at once at a window boundary', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 3, windowMs: 1000 } });
    for (let i = 0; i < 3; i += 1) {
      expect((await store.acquire('twilio')).granted).toBe(true);
      clock.ms += 100;
    }
    // Grants at 0, 100, 200; now 300. The first leaves at 1000.
    clock.ms += 699;
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 1 });
    clock.ms += 1;
    const [next, refused] = await acquireMany(store, 'twilio', 2);
    expect(next?.granted).toBe(true);
    expect(refused).toEqual({ granted: false, retryAfterMs: 100 });
  });

  it('never grants more than the limit in any window, whatever the arrival pattern', async () => {
    const limit = 5;
    const windowMs = 1000;
    const { store, clock } = storeAt({ twilio: { limit, windowMs } });
    const grants: number[] = [];
    let seed = 7;
    for (let i = 0; i < 5000; i += 1) {
      seed = (seed * 48271) % 2147483647;
      clock.ms += seed % 97;
      if ((await store.acquire('twilio')).granted) grants.push(clock.ms);
    }
    for (let i = limit; i < grants.length; i += 1) {
      expect(grants[i]! - grants[i - limit]!).toBeGreaterThanOrEqual(windowMs);
    }
    // And it does not starve: requests come about 20 a second, so nearly every slot is used.
    const windows = (clock.ms - 1_000_000) / windowMs;
    expect(grants.length).toBeGreaterThan(0.9 * limit * windows);
  });

  it('widens every window by the guard', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } }, 50);
    await store.acquire('twilio');
    clock.ms += 1000;
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 50 });
    clock.ms += 50;
    expect((await store.acquire('twilio')).granted).toBe(true);
  });

  it('counts a call from when it ended, so a slow call holds its slot until it surely arrived', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } }, 50);
    const permit = await store.acquire('twilio');
    if (!permit.granted) throw new Error('refused');
    // Held up before the request, then the provider took its time: the call ended 500 ms later.
    clock.ms += 500;
    await store.complete('twilio', permit);
    clock.ms += 600;
    // Counted from the grant it would be free (1100 > 1050); counted from the end it is not.
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 450 });
    clock.ms += 450;
    expect((await store.acquire('twilio')).granted).toBe(true);
  });

  it('counts a call that ended after its grant left the window again, never leaving it out', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } });
    const slow = await store.acquire('twilio');
    if (!slow.granted) throw new Error('refused');
    clock.ms += 1000;
    const next = await store.acquire('twilio');
    expect(next.granted).toBe(true);
    clock.ms += 10;
    await store.complete('twilio', slow);
    clock.ms += 990;
    // The next call's slot freed just now, but the slow one is counted from its end (10 ms later).
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 10 });
  });

  it('leaves a permit used within half the guard as it is', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } }, 50);
    const permit = await store.acquire('twilio');
    if (!permit.granted) throw new Error('refused');
    clock.ms += 25;
    expect(await store.renew('twilio', permit)).toBe(permit);
    clock.ms += 1025;
    expect((await store.acquire('twilio')).granted).toBe(true);
  });

  it('counts a permit held up past half the guard from its renewal', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } }, 50);
    const permit = await store.acquire('twilio');
    if (!permit.granted) throw new Error('refused');
    clock.ms += 300;
    expect(await store.renew('twilio', permit)).toEqual({
      granted: true,
      id: permit.id,
      askedAt: clock.ms,
    });
    clock.ms += 800;
    expect(await store.acquire('twilio')).toEqual({ granted: false, retryAfterMs: 250 });
  });

  it('refuses the renewal of a permit that lapsed while the window filled, and grants it with room', async () => {
    const { store, clock } = storeAt({ twilio: { limit: 1, windowMs: 1000 } });
    const held = await store.acquire('twilio');
    if (!held.granted) throw new Error('refused');
    clock.ms += 1000;
    expect((await store.acquire('twilio')).granted).toBe(true);
    clock.ms += 10;
    expect(await store.renew('twilio', held)).toEqual({ granted: false, retryAfterMs: 990 });
    clock.ms += 990;
    expect((await store.renew('twilio', held)).granted).toBe(true);
  });

  it('counts each provider on its own, and never throttles one without a rate', async () => {
    const { store } = storeAt({ twilio: { limit: 1, windowMs: 1000 } });
    expect(granted(await acquireMany(store, 'twilio', 3))).toBe(1);
    expect(granted(await acquireMany(store, 'sendgrid', 1000))).toBe(1000);
  });

  it('refuses a nonsense rate when built', () => {
    expect(
      () =>
        new MemorySendPermits({
          rates: new Map([['twilio', { limit: 0, windowMs: 1000 }]]),
          guardMs: 0,
        }),
    ).toThrow('twilio: limit must be a whole number');
    expect(() => new MemorySendPermits({ rates: new Map(), guardMs: -1 })).toThrow('guard');
  });

  it('rejects once closed', async () => {
    const { store } = storeAt({});
    await store.close();
    await expect(store.acquire('twilio')).rejects.toThrow('closed');
  });
});
