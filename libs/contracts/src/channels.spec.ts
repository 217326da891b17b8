import { CHANNELS, channelSchema, isChannel } from './channels';

describe('channels', () => {
  it('lists the five channels', () => {
    expect(CHANNELS).toEqual(['sms', 'email', 'whatsapp', 'webpush', 'mobilepush']);
  });

  it.each(CHANNELS)('accepts %s', (channel) => {
    expect(isChannel(channel)).toBe(true);
    expect(channelSchema.parse(channel)).toBe(channel);
  });

  it.each(['fax', 'SMS', '', 'push', 3, null, undefined])('rejects %p', (value) => {
    expect(isChannel(value)).toBe(false);
    expect(channelSchema.safeParse(value).success).toBe(false);
  });

  it('names the bad value and the allowed ones', () => {
    const result = channelSchema.safeParse('fax');
    expect(result.error?.issues[0]?.message).toBe(
      'unknown channel (expected one of sms, email, whatsapp, webpush, mobilepush)',
    );
  });

  it('shortens a huge echoed value', () => {
    const message = channelSchema.safeParse('x'.repeat(10_000)).error?.issues[0]?.message ?? '';
    expect(message.length).toBeLessThan(200);
  });
});
