import { Writable } from 'node:stream';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { createLogger } from './logger';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('censors personal fields by name, one and two levels deep', () => {
    const out = capture();
    const logger = createLogger('info', out.stream);
    logger.info(
      { phone: '+14155550123', recipient: { email: 'a@b.example' }, nested: { body: 'Hi Ana' } },
      'sent',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('+14155550123');
    expect(text).not.toContain('a@b.example');
    expect(text).not.toContain('Hi Ana');
  });

  it('masks contacts inside free text: the message and error fields', () => {
    const out = capture();
    const logger = createLogger('info', out.stream);
    logger.warn(
      { error: "The 'To' number +14155550123 is not valid", messageId: 'cmd-1' },
      'mail to li.wei@example.com bounced',
    );
    logger.error('token fcm-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa is gone');
    const [first, second] = out.lines();
    expect(first).toMatchObject({
      error: "The 'To' number [phone] is not valid",
      msg: 'mail to [email] bounced',
      messageId: 'cmd-1',
    });
    expect(second?.msg).toBe('token [token] is gone');
  });

  const PHONE = '+14155550123';
  const EMAIL = 'li.wei@example.com';
  const TOKEN = `tok_${'a'.repeat(40)}`;
  const SECRETS = [PHONE, EMAIL, TOKEN, 'hunter2', 'Hi Ana'];

  /** Kept apart from the cases: an error's own fields are filled in after construction. */
  function providerError(): Error {
    const error = new Error(`Twilio refused ${PHONE} for ${EMAIL}`, {
      cause: new Error(`token ${TOKEN} expired`),
    });
    Object.assign(error, { code: 21211, Password: 'hunter2' });
    return error;
  }

  it.each<[string, (logger: ReturnType<typeof createLogger>) => void]>([
    ['a capitalised key', (l) => l.info({ Phone: PHONE }, 'sent')],
    ['an upper-case key', (l) => l.info({ EMAIL }, 'sent')],
    ['a header-style key', (l) => l.info({ headers: { Authorization: `Bearer ${TOKEN}` } }, 'x')],
    ['a camel-case key', (l) => l.info({ apiKey: TOKEN }, 'x')],
    ['a snake-case key', (l) => l.info({ sasl: { api_key: TOKEN, PASSWORD: 'hunter2' } }, 'x')],
    ['a key four levels deep', (l) => l.info({ a: { b: { c: { Body: 'Hi Ana' } } } }, 'x')],
    ['a key inside an array', (l) => l.info({ recipients: [{ Email: EMAIL }] }, 'x')],
    ['a child logger binding', (l) => l.child({ Phone: PHONE }).info('x')],
    ['a grandchild logger binding', (l) => l.child({ c: 'kafka' }).child({ EMAIL }).info('x')],
    ['an error under err', (l) => l.error({ err: providerError() }, 'send failed')],
    ['an error under another key', (l) => l.error({ failure: providerError() }, 'send failed')],
    ['an error logged alone', (l) => l.error(providerError())],
    ['an error in a field of its own name', (l) => l.warn({ error: providerError() }, 'x')],
    ['a message with interpolated contacts', (l) => l.info('mail to %s bounced', EMAIL)],
    [
      'free text under a capitalised key',
      (l) => l.warn({ Reason: `${PHONE} is unreachable` }, 'x'),
    ],
  ])('keeps personal data and secrets out of %s', (_name, log) => {
    const out = capture();
    log(createLogger('info', out.stream));
    const text = JSON.stringify(out.lines());
    expect(out.lines()).toHaveLength(1);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
  });

  it('keeps what an error says apart from its contacts: type, code and a scrubbed message', () => {
    const out = capture();
    createLogger('info', out.stream).error({ err: providerError() }, 'send failed');
    const [line] = out.lines();
    expect(line?.err).toMatchObject({
      type: 'Error',
      code: 21211,
      Password: '[redacted]',
      message: 'Twilio refused [phone] for [email]: token [token] expired',
    });
    expect((line?.err as { stack?: string }).stack).toMatch(/^Error: Twilio refused \[phone\]/);
  });

  it('adds the trace and span id of the active context', () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const out = capture();
    const logger = createLogger('info', out.stream);
    const parent = propagation.extract(ROOT_CONTEXT, {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    context.with(parent, () => logger.info({}, 'inside'));
    logger.info({}, 'outside');
    const [inside, outside] = out.lines();
    expect(inside).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
    });
    expect(outside?.traceId).toBeUndefined();
    expect(trace.getSpanContext(context.active())).toBeUndefined();
  });
});
