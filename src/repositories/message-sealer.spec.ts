import { randomBytes } from 'node:crypto';
import { MessageSealer, SealedValueError } from './message-sealer';

describe('MessageSealer', () => {
  const key = randomBytes(32);
  const sealer = new MessageSealer(key);

  it('opens what it sealed, and the sealed text does not carry the plaintext', () => {
    const plain = JSON.stringify({ to: '+14155550123', body: 'Your code is 123456' });
    const sealed = sealer.seal(plain, 'msg-1');
    expect(sealed).not.toContain('4155550123');
    expect(sealed).not.toContain('123456');
    expect(sealer.open(sealed, 'msg-1')).toBe(plain);
  });

  it('uses a fresh nonce each time', () => {
    expect(sealer.seal('same', 'm')).not.toBe(sealer.seal('same', 'm'));
  });

  it('never repeats a nonce across refills of its pool of random bytes, and each still opens', () => {
    const own = new MessageSealer(key);
    // Several pools' worth (512 nonces each).
    const sealed = Array.from({ length: 2000 }, () => own.seal('same', 'm'));
    const nonces = new Set(sealed.map((value) => value.split('.')[2]));
    expect(nonces.size).toBe(sealed.length);
    for (const value of [sealed[0]!, sealed[511]!, sealed[512]!, sealed[1999]!]) {
      expect(own.open(value, 'm')).toBe('same');
    }
  });

  it('refuses a value moved to another message id', () => {
    const sealed = sealer.seal('secret', 'msg-1');
    expect(() => sealer.open(sealed, 'msg-2')).toThrow(SealedValueError);
  });

  it('refuses a tampered value', () => {
    const sealed = sealer.seal('secret', 'msg-1');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => sealer.open(parts.join('.'), 'msg-1')).toThrow('failed authentication');
  });

  it('opens values sealed with a previous key after rotation, and names a missing key', () => {
    const old = new MessageSealer(key).seal('before rotation', 'm');
    const rotated = new MessageSealer(randomBytes(32), [key]);
    expect(rotated.open(old, 'm')).toBe('before rotation');
    const withoutOld = new MessageSealer(randomBytes(32));
    expect(() => withoutOld.open(old, 'm')).toThrow(
      /sealed with key [0-9a-f]{8}, which is not configured/,
    );
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => new MessageSealer(randomBytes(16))).toThrow('32 bytes');
  });
});
