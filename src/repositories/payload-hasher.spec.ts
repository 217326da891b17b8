import { createHash } from 'node:crypto';
import { PayloadHasher } from './payload-hasher';

const oldKey = Buffer.alloc(32, 1);
const newKey = Buffer.alloc(32, 2);
const payload = '{"customerId":"c-1","recipient":{"phone":"+447700900123"}}';

describe('keyed payload hash', () => {
  it('is not the plain SHA-256 of the payload, so a guess cannot be checked against it', () => {
    const hash = new PayloadHasher(newKey).hash(payload);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toBe(createHash('sha256').update(payload).digest('hex'));
    expect(hash).not.toBe(new PayloadHasher(oldKey).hash(payload));
    expect(hash).toBe(new PayloadHasher(newKey).hash(payload));
    expect(hash).not.toBe(new PayloadHasher(newKey).hash(payload.replace('23', '24')));
  });

  it('recognises hashes written under a previous key, and unkeyed ones from before', () => {
    const rotated = new PayloadHasher(newKey, [oldKey]);
    expect(rotated.earlier(payload)).toEqual([
      new PayloadHasher(oldKey).hash(payload),
      createHash('sha256').update(payload).digest('hex'),
    ]);
    expect(rotated.earlier(payload)).not.toContain(rotated.hash(payload));
  });
});
