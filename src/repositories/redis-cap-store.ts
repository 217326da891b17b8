import { createHash } from 'node:crypto';
import Redis, { type Cluster, type RedisOptions } from 'ioredis';
import {
  capKey,
  PEEK_ID,
  rulesToReserve,
  type CapRule,
  type CapStore,
  type CapViolation,
  type PeekRequest,
  type ReleaseRequest,
  type ReserveRequest,
  type ReserveResult,
} from './cap-store';
import {
  DEFAULT_BATCHING,
  MicroBatcher,
  type BatchingOptions,
  type BatchOutcome,
} from './micro-batcher';

/**
 * The whole check-and-reserve in one round trip. Redis runs a script without interleaving other
 * commands, so replicas racing on one customer cannot both take the last slot.
 * KEYS: one sorted set per applicable rule (members: reservation ids, scores: ms), all under the
 * customer's hash tag. ARGV: now ms, reservation id, mode ("1" force, "0" reserve if every rule has
 * room, "p" peek: report full rules and count nothing), then limit and window ms per key.
 * Reply: {granted 1/0, then key index, count, retryAt ms for each rule without room}.
 */
export const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local id = ARGV[2]
local force = ARGV[3] == '1'
local peek = ARGV[3] == 'p'
local violated = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  -- An id already counted here is a retried reserve: it needs no new room.
  if not redis.call('ZSCORE', key, id) then
    local count = redis.call('ZCARD', key)
    if count >= limit then
      -- Room returns when entry number count - limit (oldest first) leaves the window.
      local frees = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      violated[#violated + 1] = i
      violated[#violated + 1] = count
      violated[#violated + 1] = tonumber(frees[2]) + window
    end
  end
end
local granted = force or #violated == 0
if granted and not peek then
  for i, key in ipairs(KEYS) do
    local window = tonumber(ARGV[3 + 2 * i])
    -- NX keeps the first time, so a retry does not push its own slot further out.
    redis.call('ZADD', key, 'NX', now, id)
    local newest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    redis.call('PEXPIRE', key, window + math.max(0, newest - now))
  end
end
local reply = {granted and 1 or 0}
for _, value in ipairs(violated) do reply[#reply + 1] = value end
return reply
`;

const RESERVE_SHA = createHash('sha1').update(RESERVE_SCRIPT).digest('hex');

export interface RedisCapStoreOptions {
  /** Prepended to every key, e.g. per environment or per test run; must not contain braces. */
  readonly keyPrefix?: string;
  /** Concurrent reserves and peeks share one round trip: one pipeline of script calls. */
  readonly batching?: BatchingOptions;
}

interface ScriptCall {
  readonly keys: readonly string[];
  readonly args: readonly string[];
}

/** Duck-typed: socket errors may come from another realm (e.g. under jest), failing instanceof. */
export function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable REDIS_URL)';
  }
}

/** The part of the pino logger a Redis client reports to, so tests can pass a recorder. */
export interface RedisLogger {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface RedisTimeouts {
  /** A command without an answer after this long fails, whether sent or waiting to be. */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export const DEFAULT_REDIS_TIMEOUTS: RedisTimeouts = {
  commandTimeoutMs: 2_000,
  connectTimeoutMs: 5_000,
};

/** Reconnect attempts 100 ms apart at first, then once a second, for ever. */
const RECONNECT_MAX_DELAY_MS = 1_000;

/**
 * Client options chosen for an outage: a command fails within `commandTimeoutMs` instead of
 * waiting in the offline queue (ioredis's default waits for 20 reconnects, about a minute), after
 * at most one reconnect attempt; the caller sees a dependency failure and pauses. Reconnects go on
 * every second, so work resumes within a second or two of Redis coming back. TCP keepalive finds a
 * peer that vanished without closing the connection.
 */
export function redisOptionsFor(timeouts: RedisTimeouts = DEFAULT_REDIS_TIMEOUTS): RedisOptions {
  return {
    commandTimeout: timeouts.commandTimeoutMs,
    connectTimeout: timeouts.connectTimeoutMs,
    keepAlive: 10_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_DELAY_MS),
    // Commands issued in the same tick leave in one write: a dispatch batch's spend reserves and
    // permits would otherwise each cost a socket write here and a wakeup of Redis.
    enableAutoPipelining: true,
  };
}

/**
 * Connects now instead of on first use, so an unreachable Redis fails start-up (or a test) with
 * the socket's own reason, not a command stuck in the offline queue. Once connected, the client's
 * normal reconnect rules apply, and with a logger its connection errors are logged: the first of
 * an outage as an error, the return as info (one line each, not one per reconnect attempt).
 */
export async function connectRedis(
  url: string,
  options: RedisOptions = {},
  logger?: RedisLogger,
): Promise<Redis> {
  const client = new Redis(url, { ...options, lazyConnect: true });
  let firstError: unknown;
  // Also keeps ioredis from printing "Unhandled error event" for every failed attempt.
  const remember = (error: unknown): void => {
    firstError ??= error;
  };
  client.on('error', remember);
  try {
    await client.connect();
  } catch (error) {
    // Stops reconnect attempts; skipped when already ended, as it would then arm a needless
    // disconnect timer on the dead socket that keeps the process alive for seconds.
    if (client.status !== 'end') client.disconnect();
    // The first socket error says why (ECONNREFUSED, ENOTFOUND, auth); connect() only says closed.
    const why = firstError ?? error;
    const reason = messageOf(why);
    throw new Error(`Redis is not reachable at ${redactUrl(url)}: ${reason}`, { cause: error });
  }
  client.off('error', remember);
  if (logger) reportConnection(client, redactUrl(url), logger);
  return client;
}

function reportConnection(client: Redis, redis: string, logger: RedisLogger): void {
  let downSince: number | undefined;
  client.on('error', (error: unknown) => {
    if (downSince !== undefined) return;
    downSince = Date.now();
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : null;
    logger.error(
      { redis, error: messageOf(error), code: typeof code === 'string' ? code : null },
      'Redis connection failed; commands fail until it is back, reconnecting every second',
    );
  });
  client.on('ready', () => {
    if (downSince === undefined) return;
    logger.info({ redis, downMs: Date.now() - downSince }, 'Redis connection restored');
    downSince = undefined;
  });
}

/**
 * CapStore on Redis (standalone or Cluster). The store owns the client it is given: close() quits
 * it. Unreachable Redis surfaces as rejected promises, per the client's retry options; whether a
 * send then goes uncapped or waits is the caller's decision.
 */
export class RedisCapStore implements CapStore {
  private readonly keyPrefix: string;
  private readonly scripts: MicroBatcher<ScriptCall, unknown>;

  constructor(
    private readonly client: Redis | Cluster,
    options: RedisCapStoreOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? '';
    // A brace in the prefix would become the hash tag and put every customer in one slot.
    if (/[{}]/.test(this.keyPrefix)) {
      throw new Error(`RedisCapStore keyPrefix must not contain braces: ${this.keyPrefix}`);
    }
    this.scripts = new MicroBatcher(
      (calls) => this.evalReserveMany(calls),
      options.batching ?? DEFAULT_BATCHING,
      'cap_reserve',
    );
  }

  static async connect(
    url: string,
    options: RedisCapStoreOptions & {
      readonly redis?: RedisOptions;
      readonly logger?: RedisLogger;
    } = {},
  ): Promise<RedisCapStore> {
    return new RedisCapStore(await connectRedis(url, options.redis, options.logger), options);
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const rules = rulesToReserve(request);
    const reservation = {
      customerId: request.customerId,
      reservationId: request.reservationId,
      ruleIds: rules.map((rule) => rule.id),
      at: request.now,
    };
    // No rule applies: nothing to count, so no round trip.
    if (rules.length === 0) return { granted: true, reservation, violated: [] };
    const keys = rules.map((rule) => this.key(request.customerId, rule.id));
    const args = [String(request.now.getTime()), request.reservationId, request.force ? '1' : '0'];
    for (const rule of rules) args.push(String(rule.limit), String(rule.windowSeconds * 1000));
    const reply = parseReply(await this.evalReserve(keys, args), rules);
    if (!reply.granted) return { granted: false, violated: reply.violated };
    return { granted: true, reservation, violated: reply.violated };
  }

  async peek(request: PeekRequest): Promise<readonly CapViolation[]> {
    const rules = rulesToReserve({ ...request, reservationId: PEEK_ID, force: false });
    if (rules.length === 0) return [];
    const keys = rules.map((rule) => this.key(request.customerId, rule.id));
    const args = [String(request.now.getTime()), PEEK_ID, 'p'];
    for (const rule of rules) args.push(String(rule.limit), String(rule.windowSeconds * 1000));
    return parseReply(await this.evalReserve(keys, args), rules).violated;
  }

  async release(reservation: ReleaseRequest): Promise<void> {
    if (reservation.ruleIds.length === 0) return;
    const results = await this.client
      .pipeline(
        reservation.ruleIds.map((ruleId) => [
          'zrem',
          this.key(reservation.customerId, ruleId),
          reservation.reservationId,
        ]),
      )
      .exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  /** Answers when Redis does (readiness and the consumers' outage probe). */
  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await this.client.quit();
  }

  private key(customerId: string, ruleId: string): string {
    return this.keyPrefix + capKey(customerId, ruleId);
  }

  private evalReserve(keys: string[], args: string[]): Promise<unknown> {
    return this.scripts.call({ keys, args });
  }

  /**
   * The script calls of a batch in one pipeline: one round trip, each call still one atomic
   * script over one customer's keys. A Cluster pipeline must stay within one slot, so there each
   * call goes on its own (ioredis sends them together per node anyway).
   */
  private async evalReserveMany(
    calls: readonly ScriptCall[],
  ): Promise<Array<BatchOutcome<unknown>>> {
    if (calls.length === 1 || this.client.isCluster) {
      return Promise.all(calls.map((call) => outcomeOf(this.evalReserveAlone(call))));
    }
    const results = await this.client
      .pipeline(
        calls.map(({ keys, args }) => ['evalsha', RESERVE_SHA, keys.length, ...keys, ...args]),
      )
      .exec();
    if (results === null || results.length !== calls.length) {
      throw new Error('the cap reserve pipeline was not run');
    }
    return Promise.all(
      results.map(async ([error, reply], index): Promise<BatchOutcome<unknown>> => {
        if (error === null) return { value: reply };
        // First use on this server: EVAL runs the script and caches it.
        if (messageOf(error).startsWith('NOSCRIPT')) {
          const { keys, args } = calls[index]!;
          return outcomeOf(this.client.eval(RESERVE_SCRIPT, keys.length, ...keys, ...args));
        }
        return { error };
      }),
    );
  }

  private async evalReserveAlone({ keys, args }: ScriptCall): Promise<unknown> {
    try {
      return await this.client.evalsha(RESERVE_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      // First use on this server, or its script cache was flushed: EVAL runs it and caches it.
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      return this.client.eval(RESERVE_SCRIPT, keys.length, ...keys, ...args);
    }
  }
}

async function outcomeOf<T>(pending: Promise<T>): Promise<BatchOutcome<T>> {
  try {
    return { value: await pending };
  } catch (error) {
    return { error };
  }
}

function parseReply(
  reply: unknown,
  rules: readonly CapRule[],
): { granted: boolean; violated: CapViolation[] } {
  if (
    !Array.isArray(reply) ||
    reply.length % 3 !== 1 ||
    !reply.every((value): value is number => typeof value === 'number')
  ) {
    throw new Error(`unexpected reply from the cap reserve script: ${JSON.stringify(reply)}`);
  }
  const numbers: number[] = reply;
  const violated: CapViolation[] = [];
  for (let at = 1; at < numbers.length; at += 3) {
    const rule = rules[(numbers[at] ?? 0) - 1];
    if (rule === undefined) throw new Error(`cap reserve script named rule #${numbers[at]}`);
    violated.push({ rule, count: numbers[at + 1] ?? 0, retryAt: new Date(numbers[at + 2] ?? 0) });
  }
  return { granted: numbers[0] === 1, violated };
}
