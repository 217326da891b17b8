import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import {
  heldUpPastGuard,
  sendRateTableProblems,
  type GrantedPermit,
  type SendPermit,
  type SendPermits,
  type SendRateTable,
} from '@omnigate/channels';
import { connectRedis, type RedisLogger } from './redis-cap-store';

/**
 * A sliding-window log of calls, checked and written in one script so that replicas racing on one
 * provider cannot both take the last slot. The clock is the Redis server's (TIME), so replicas
 * whose clocks disagree still share one timeline. Times are microseconds (exact in a Lua double).
 * One script counts a call from now: a call still in the window is moved here (a renewal), any
 * other needs room (an acquire, or a renewal that lapsed), except a call that has ended, which is
 * always counted since it has reached the provider by now (see SendPermits in @omnigate/channels).
 * Moving a call later never makes room for anyone.
 * KEYS: the provider's sorted set (members: grant ids, scores: µs).
 * ARGV: limit, window ms (provider window + guard), the grant id, "if room" or "always".
 * Reply: {1, 0} counted, or {0, µs until the window has room again}.
 */
export const SEND_RATE_SCRIPT = `
-- Redis 5+ replicates a script's effects; older servers refuse writes after TIME without this.
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
-- A call at t counts while now - t < window.
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if ARGV[4] == 'always' or count < limit or redis.call('ZSCORE', key, ARGV[3]) then
  redis.call('ZADD', key, now, ARGV[3])
  -- The newest call is now's, so nothing in the set matters after one more window.
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
  return {1, 0}
end
-- Room returns when call number count - limit (oldest first) leaves; the oldest unless the limit
-- was lowered, or completions re-added calls, while the set was full.
local frees = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {0, tonumber(frees[2]) + window - now}
`;

const SEND_RATE_SHA = createHash('sha1').update(SEND_RATE_SCRIPT).digest('hex');

export interface RedisSendPermitsOptions {
  /** Prepended to every key, e.g. per environment or per test run. */
  readonly keyPrefix?: string;
}

/** `send-rate:<providerId>`: one key per provider, shared by every replica. */
export function sendRateKey(providerId: string): string {
  return `send-rate:${encodeURIComponent(providerId)}`;
}

/**
 * SendPermits on Redis (standalone or Cluster: the script touches one key), shared by every
 * replica: at most `limit` grants in any window of the provider's window plus the guard. The store
 * owns the client it is given: close() quits it. An unreachable Redis rejects, and the router lets
 * that through as an infrastructure failure rather than sending unthrottled.
 */
export class RedisSendPermits implements SendPermits {
  private readonly keyPrefix: string;
  /** Makes grant ids unique across replicas without a round trip. */
  private readonly instanceId = randomBytes(6).toString('hex');
  private grants = 0;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly table: SendRateTable,
    options: RedisSendPermitsOptions = {},
  ) {
    const problems = sendRateTableProblems(table);
    if (problems.length > 0) throw new Error(`invalid send rates: ${problems.join('; ')}`);
    this.keyPrefix = options.keyPrefix ?? '';
  }

  static async connect(
    url: string,
    table: SendRateTable,
    options: RedisSendPermitsOptions & {
      readonly redis?: RedisOptions;
      readonly logger?: RedisLogger;
    } = {},
  ): Promise<RedisSendPermits> {
    return new RedisSendPermits(
      await connectRedis(url, options.redis, options.logger),
      table,
      options,
    );
  }

  async acquire(providerId: string): Promise<SendPermit> {
    this.grants += 1;
    return this.count(providerId, `${this.instanceId}:${this.grants}`, 'if room');
  }

  async renew(providerId: string, permit: GrantedPermit): Promise<SendPermit> {
    if (!heldUpPastGuard(permit, this.table.guardMs)) return permit;
    return this.count(providerId, permit.id, 'if room');
  }

  async complete(providerId: string, permit: GrantedPermit): Promise<void> {
    await this.count(providerId, permit.id, 'always');
  }

  private async count(
    providerId: string,
    id: string,
    when: 'if room' | 'always',
  ): Promise<SendPermit> {
    const askedAt = performance.now();
    const rate = this.table.rates.get(providerId);
    // Not rate-limited: nothing to count, so no round trip.
    if (rate === undefined) return { granted: true, id: '', askedAt };
    const reply = await this.evalScript(this.keyPrefix + sendRateKey(providerId), [
      String(rate.limit),
      String(rate.windowMs + this.table.guardMs),
      id,
      when,
    ]);
    if (
      !Array.isArray(reply) ||
      reply.length !== 2 ||
      !reply.every((value): value is number => typeof value === 'number')
    ) {
      throw new Error(`unexpected reply from the send-rate script: ${JSON.stringify(reply)}`);
    }
    const [counted, waitMicros] = reply as [number, number];
    if (counted === 1) return { granted: true, id, askedAt };
    return { granted: false, retryAfterMs: Math.max(1, Math.ceil(waitMicros / 1000)) };
  }

  async close(): Promise<void> {
    await this.client.quit();
  }

  private async evalScript(key: string, args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(SEND_RATE_SHA, 1, key, ...args);
    } catch (error) {
      // First use on this server, or its script cache was flushed: EVAL runs it and caches it.
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      return this.client.eval(SEND_RATE_SCRIPT, 1, key, ...args);
    }
  }
}

/** Duck-typed: errors may come from another realm (e.g. under jest), failing instanceof. */
function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}
