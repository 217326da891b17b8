/**
 * Tells an outage of a dependency (PostgreSQL, Redis, the Kafka broker, the network) from a fault
 * of the record being handled. The consumer retries the first with the batch until the dependency
 * is back; the second it retries a few times and then sets the record aside, so one bad record can
 * never stop a partition. Duck-typed, not instanceof: drivers and Node's sockets may throw from
 * another realm (under Jest, for one), and we only read `name`, `code` and `message`.
 */

/** Node socket and DNS errors: the peer is unreachable, not the record wrong. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
]);

/**
 * PostgreSQL SQLSTATE codes of a server that is unavailable or overloaded, or of a statement that
 * lost a race and succeeds when run again. Classes: 08 connection, 53 insufficient resources,
 * 57P admin/crash shutdown and "cannot connect now", 58 system error; 57014 is a statement timeout.
 */
const TRANSIENT_SQLSTATE = /^(08|53|57P|58)|^(57014|40001|40P01)$/;

/** Messages of client libraries that carry no code: pg, pg-pool and ioredis. */
const TRANSIENT_MESSAGE =
  /connection terminated|connection is closed|timeout exceeded when trying to connect|client has encountered a connection error|command timed out|stream isn't writeable|max retries per request|query read timeout|database is unavailable|redis is unavailable/i;

/** Redis replies of a server that is starting, busy or failing over. */
const TRANSIENT_REDIS_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/;

export function isDependencyFailure(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { name, code, message, errors, cause } = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    errors?: unknown;
    cause?: unknown;
  };
  if (typeof name === 'string' && name.startsWith('KafkaJS')) return true;
  if (name === 'MaxRetriesPerRequestError') return true;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE.test(code)) return true;
  }
  if (typeof message === 'string') {
    if (TRANSIENT_MESSAGE.test(message)) return true;
    if (name === 'ReplyError' && TRANSIENT_REDIS_REPLY.test(message)) return true;
  }
  // A refused connection to every address of a host arrives as one AggregateError.
  if (Array.isArray(errors) && errors.some((inner) => isDependencyFailure(inner, depth + 1))) {
    return true;
  }
  return cause !== undefined && isDependencyFailure(cause, depth + 1);
}
