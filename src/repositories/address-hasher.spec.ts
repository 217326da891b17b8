import { randomBytes } from 'node:crypto';
import { AddressHasher } from './address-hasher';

describe('AddressHasher', () => {
  const key = randomBytes(32);
  const hasher = new AddressHasher(key);

  it('gives one phone number the same hash on SMS and WhatsApp, whatever the prefix', () => {
    const sms = hasher.hash('sms', '+14155550100');
    expect(sms).toMatch(/^[0-9a-f]{64}$/);
    expect(hasher.hash('whatsapp', 'whatsapp:+14155550100')).toBe(sms);
    expect(hasher.hash('sms', '+14155550101')).not.toBe(sms);
  });

  it('compares email addresses without case', () => {
    expect(hasher.hash('email', 'Ana@Example.com ')).toBe(hasher.hash('email', 'ana@example.com'));
  });

  it('depends on the key, and still knows the hash under a previous key', () => {
    const rotated = new AddressHasher(randomBytes(32), [key]);
    const [active, previous] = rotated.all('sms', '+14155550100');
    expect(active).not.toBe(hasher.hash('sms', '+14155550100'));
    expect(previous).toBe(hasher.hash('sms', '+14155550100'));
  });
});
