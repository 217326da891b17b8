import { checkPushEndpoint, MAX_PUSH_ENDPOINT_LENGTH } from './push-endpoint';
import { webPushSubscriptionSchema } from './send-command';

const KEYS = {
  p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
  auth: 'tBHItJI5svbpez7KI4CCXg',
};

describe('checkPushEndpoint', () => {
  it.each([
    ['Chrome (FCM)', 'https://fcm.googleapis.com/fcm/send/dX0:APA91b', 'fcm.googleapis.com'],
    [
      'Firefox (autopush)',
      'https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk',
      'updates.push.services.mozilla.com',
    ],
    ['Safari', 'https://web.push.apple.com/QGuQyavXu?x=1', 'web.push.apple.com'],
    [
      'Edge (WNS)',
      'https://wns2-par02p.notify.windows.com/w/?token=BQYAAA',
      'wns2-par02p.notify.windows.com',
    ],
    ['a punycode (IDN) host', 'https://xn--bcher-kva.example/push/1', 'xn--bcher-kva.example'],
    ['a single-label host', 'https://localhost:8443/push/1', 'localhost'],
  ])('accepts %s', (_name, endpoint, hostname) => {
    expect(checkPushEndpoint(endpoint)).toMatchObject({ ok: true, hostname, href: endpoint });
  });

  it.each([
    ['the url.parse bypass', 'https://127.0.0.1;.push.apple.com/x'],
    ['a semicolon before the path', 'https://web.push.apple.com;/x'],
    ['userinfo', 'https://web.push.apple.com@127.0.0.1/x'],
    ['userinfo that looks like the host', 'https://user:pw@web.push.apple.com/x'],
    ['an encoded @', 'https://web.push.apple.com%40127.0.0.1/x'],
    ['percent-encoding in the host', 'https://web.push.apple%2ecom/x'],
    ['a backslash', 'https://127.0.0.1\\.push.apple.com/x'],
    ['a backslash after the host', 'https://web.push.apple.com\\@127.0.0.1/x'],
    ['an IPv4 literal', 'https://127.0.0.1/x'],
    ['a short IPv4 form', 'https://127.1/x'],
    ['a hex IPv4 form', 'https://0x7f.0.0.1/x'],
    ['a numeric host', 'https://2130706433/x'],
    ['an IPv6 literal', 'https://[::1]/x'],
    ['an IPv4-mapped IPv6 literal', 'https://[::ffff:127.0.0.1]/x'],
    ['a Unicode (IDN) host', 'https://bücher.example/x'],
    ['a trailing dot', 'https://web.push.apple.com./x'],
    ['an empty label', 'https://web..push.apple.com/x'],
    ['a label starting with a hyphen', 'https://-web.push.apple.com/x'],
    ['uppercase', 'https://WEB.push.apple.com/x'],
    ['whitespace', 'https://web.push.apple.com /x'],
    ['a tab inside the host', 'https://web.push\t.apple.com/x'],
    ['port 0', 'https://web.push.apple.com:0/x'],
    ['a port out of range', 'https://web.push.apple.com:65536/x'],
    ['an empty port', 'https://web.push.apple.com:/x'],
    ['http', 'http://web.push.apple.com/x'],
    ['another scheme', 'ftp://web.push.apple.com/x'],
    ['no slashes after the scheme', 'https:web.push.apple.com/x'],
    ['a fragment', 'https://web.push.apple.com/x#y'],
    ['no host', 'https:///x'],
  ])('refuses %s', (_name, endpoint) => {
    const checked = checkPushEndpoint(endpoint);
    expect(checked.ok).toBe(false);
    // The problem is worded without the endpoint, which is a capability URL.
    expect(!checked.ok && checked.problem).not.toContain('apple');
  });

  it('gives the normalised href with the default port left out', () => {
    expect(checkPushEndpoint('https://web.push.apple.com:443/a/../b')).toEqual({
      ok: true,
      href: 'https://web.push.apple.com/b',
      hostname: 'web.push.apple.com',
      port: undefined,
    });
    expect(checkPushEndpoint('https://localhost:8443/p')).toMatchObject({ port: 8443 });
  });

  it('answers a repeated endpoint the same, also after many others have pushed it out', () => {
    const first = checkPushEndpoint('https://fcm.googleapis.com/fcm/send/repeat');
    const refused = checkPushEndpoint('https://127.0.0.1/repeat');
    expect(checkPushEndpoint('https://fcm.googleapis.com/fcm/send/repeat')).toBe(first);
    expect(checkPushEndpoint('https://127.0.0.1/repeat')).toBe(refused);
    expect(Object.isFrozen(first)).toBe(true);
    for (let i = 0; i < 2_000; i += 1) checkPushEndpoint(`https://push.example.com/s/${i}`);
    expect(checkPushEndpoint('https://fcm.googleapis.com/fcm/send/repeat')).toEqual(first);
    expect(checkPushEndpoint('https://127.0.0.1/repeat')).toEqual(refused);
    expect(refused.ok).toBe(false);
  });

  it('does not remember an endpoint longer than the schema accepts', () => {
    const long = `https://fcm.googleapis.com/${'a'.repeat(MAX_PUSH_ENDPOINT_LENGTH)}`;
    const first = checkPushEndpoint(long);
    expect(first.ok).toBe(true);
    const again = checkPushEndpoint(long);
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
  });
});

describe('webPushSubscriptionSchema', () => {
  it('refuses the url.parse bypass with one problem that says why', () => {
    const parsed = webPushSubscriptionSchema.safeParse({
      endpoint: 'https://127.0.0.1;.push.apple.com/x',
      keys: KEYS,
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message)).toEqual([
      'must be an https:// URL whose host is a lowercase DNS name (no IP address, user, "%", "\\" or ";")',
    ]);
  });

  it('refuses http:// with the https message only', () => {
    const parsed = webPushSubscriptionSchema.safeParse({
      endpoint: 'http://web.push.apple.com/x',
      keys: KEYS,
    });
    expect(parsed.error?.issues.map((i) => i.message)).toEqual([
      'must be an https:// URL (the push service endpoint)',
    ]);
  });

  it('accepts a browser subscription', () => {
    const parsed = webPushSubscriptionSchema.safeParse({
      endpoint: 'https://fcm.googleapis.com/fcm/send/abc',
      keys: KEYS,
      expirationTime: null,
    });
    expect(parsed.success).toBe(true);
  });
});
