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
