import { checkRenderedContent } from './rendered-content';

describe('checkRenderedContent', () => {
  it.each([
    [
      'webpush',
      { title: 'Order A-1 shipped', body: 'On its way', url: 'https://t.example/1?a=1&b=2' },
    ],
    ['webpush', { title: 'T', body: 'B', icon: 'https://cdn.example/i.png' }],
    ['mobilepush', { title: 'T', body: 'B', imageUrl: 'https://cdn.example/i.png' }],
    ['email', { subject: '您的订单 A-1 已发货 📦', text: 'line one\nline two' }],
    ['sms', { text: 'Hi\nthere' }],
    ['whatsapp', { template: { name: 'otp_code', language: 'en', variables: { code: '1' } } }],
  ] as const)('accepts %s %j', (channel, fields) => {
    expect(checkRenderedContent(channel, fields)).toEqual({ ok: true, content: fields });
  });

  it.each([
    [
      'an http push link',
      'webpush',
      { title: 'T', body: 'B', url: 'http://t.example/1' },
      'url: must be an https:// URL',
    ],
    [
      'an http icon',
      'webpush',
      { title: 'T', body: 'B', icon: 'http://cdn.example/i.png' },
      'icon: must be an https:// URL',
    ],
    [
      'a javascript: link',
      'webpush',
      { title: 'T', body: 'B', url: 'javascript:alert(1)' },
      'url: must be an https:// URL',
    ],
    ['an empty link', 'webpush', { title: 'T', body: 'B', url: '' }, 'url: '],
    [
      'an http image',
      'mobilepush',
      { title: 'T', body: 'B', imageUrl: 'http://cdn.example/i.png' },
      'imageUrl: must be an https:// URL',
    ],
    [
      'a line break in a subject',
      'email',
      { subject: 'Hi\r\nBcc: x@example.com', text: 't' },
      'subject: must not contain control characters',
    ],
    [
      'a NUL in a push title',
      'webpush',
      { title: 'a\u0000b', body: 'B' },
      'title: must not contain control characters',
    ],
    [
      'a C1 control in a title',
      'mobilepush',
      { title: 'a\u0085b', body: 'B' },
      'title: must not contain control characters',
    ],
    ['a title over 256', 'webpush', { title: 'x'.repeat(257), body: 'B' }, 'title: '],
    ['a subject over 998', 'email', { subject: 'x'.repeat(999), text: 't' }, 'subject: '],
    ['an SMS over 1600', 'sms', { text: 'x'.repeat(1601) }, 'text: '],
    ['an empty push body', 'webpush', { title: 'T', body: '' }, 'body: '],
    [
      'a WhatsApp variable over 1024',
      'whatsapp',
      { template: { name: 'n', language: 'en', variables: { v: 'x'.repeat(1025) } } },
      'whatsapp: ',
    ],
  ] as const)('refuses %s', (_name, channel, fields, problem) => {
    const checked = checkRenderedContent(channel, fields);
    expect(checked.ok).toBe(false);
    const problems = checked.ok ? [] : checked.problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
    // The rule and the field, never the value: it carries customer data.
    for (const value of Object.values(fields).filter((v) => typeof v === 'string' && v.length > 1))
      expect(problems[0]).not.toContain(value);
  });
});
