import { isDependencyFailure } from './dependency-failure';

const withFields = (fields: Record<string, unknown>, message = ''): Error =>
  Object.assign(new Error(message), fields);

describe('isDependencyFailure', () => {
  it.each<[string, unknown, boolean]>([
    ['a refused connection', withFields({ code: 'ECONNREFUSED' }, 'connect ECONNREFUSED'), true],
    ['a reset socket', withFields({ code: 'ECONNRESET' }), true],
    ['a DNS failure', withFields({ code: 'EAI_AGAIN' }), true],
    [
      'every address refused (AggregateError)',
      new AggregateError([withFields({ code: 'ECONNREFUSED' })], ''),
      true,
    ],
    ['pg: the server closed the connection', new Error('Connection terminated unexpectedly'), true],
    ['pg-pool: no connection in time', new Error('timeout exceeded when trying to connect'), true],
    ['PostgreSQL shutting down (57P01)', withFields({ code: '57P01' }), true],
    ['PostgreSQL starting up (57P03)', withFields({ code: '57P03' }), true],
    ['PostgreSQL connection failure (08006)', withFields({ code: '08006' }), true],
    ['PostgreSQL too many connections (53300)', withFields({ code: '53300' }), true],
    ['a statement timeout (57014)', withFields({ code: '57014' }), true],
    ['a serialization failure (40001)', withFields({ code: '40001' }), true],
    ['a deadlock (40P01)', withFields({ code: '40P01' }), true],
    ['ioredis: connection closed', new Error('Connection is closed.'), true],
    ['ioredis: command timeout', new Error('Command timed out'), true],
    ['ioredis: retries exhausted', withFields({ name: 'MaxRetriesPerRequestError' }), true],
    [
      'Redis loading its data set',
      withFields({ name: 'ReplyError' }, 'LOADING Redis is loading'),
      true,
    ],
    ['a kafkajs error', withFields({ name: 'KafkaJSNumberOfRetriesExceeded' }), true],
    [
      'wrapped as a cause',
      new Error('settle failed', { cause: withFields({ code: 'EPIPE' }) }),
      true,
    ],
    ['a NUL byte PostgreSQL refuses (22021)', withFields({ code: '22021' }), false],
    ['a unique violation (23505)', withFields({ code: '23505' }), false],
    ['a Lua script error', withFields({ name: 'ReplyError' }, 'ERR user_script:1: boom'), false],
    ['a stack overflow', new RangeError('Maximum call stack size exceeded'), false],
    ['a type error', new TypeError("Cannot read properties of undefined (reading 'x')"), false],
    ['a string thrown', 'boom', false],
    ['null', null, false],
  ])('%s → %s', (_label, error, expected) => {
    expect(isDependencyFailure(error)).toBe(expected);
  });

  it('stops following a cycle of causes', () => {
    const first: Error & { cause?: unknown } = new Error('a');
    first.cause = new Error('b', { cause: first });
    expect(isDependencyFailure(first)).toBe(false);
  });
});
