import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import { connectRedis, messageOf } from './redis-cap-store';
import {
  budgetKey,
  checkSpendRequest,
  spendKey,
  SPEND_PEEK_ID,
  type SpendChannel,
  type SpendCounters,
  type SpendLimit,
  type SpendReservation,
  type SpendReserveRequest,
  type SpendReserveResult,
} from './spend-counters';

/**
 * Check-and-count over every limit of one send in one round trip: Redis runs a script without
 * interleaving, so replicas racing on one number cannot both take its last slot.
 * KEYS: one sorted set per limit (members: reservation ids, scores: ms), all under the channel's
 * hash tag. ARGV: now ms, reservation id, mode ("c" count, "p" peek: count nothing), then limit,
 * window ms and enforced ("1"/"0") per key. Reply: {granted 1/0, then the index of each full key}.
 */
export const SPEND_RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local id = ARGV[2]
local peek = ARGV[3] == 'p'
local granted = true
local reply = {0}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 3 * i])
  local window = tonumber(ARGV[2 + 3 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  -- An id already counted here is a retried reserve: it needs no new room.
  if not redis.call('ZSCORE', key, id) and redis.call('ZCARD', key) >= limit then
    reply[#reply + 1] = i
    if ARGV[3 + 3 * i] == '1' then granted = false end
  end
end
if granted and not peek then
  for i, key in ipairs(KEYS) do
    local window = tonumber(ARGV[2 + 3 * i])
    redis.call('ZADD', key, 'NX', now, id)
    local newest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    redis.call('PEXPIRE', key, window + math.max(0, newest - now))
  end
end
if granted then reply[1] = 1 end
return reply
`;

const SPEND_RESERVE_SHA = createHash('sha1').update(SPEND_RESERVE_SCRIPT).digest('hex');

/**
 * SpendCounters on Redis (standalone or Cluster); owns its client. An unreachable Redis rejects,
 * and dispatch lets the step fail and retry rather than send unguarded.
 */
export class RedisSpendCounters implements SpendCounters {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly keyPrefix = '',
  ) {
    if (/[{}]/.test(keyPrefix)) {
      throw new Error(`RedisSpendCounters keyPrefix must not contain braces: ${keyPrefix}`);
    }
  }

  /** `redis`: the service's outage options (redisOptionsFor), required so none is left out. */
  static async connect(
    url: string,
    options: { readonly keyPrefix?: string; readonly redis: RedisOptions },
  ): Promise<RedisSpendCounters> {
    return new RedisSpendCounters(await connectRedis(url, options.redis), options.keyPrefix);
  }

  async reserve(request: SpendReserveRequest): Promise<SpendReserveResult> {
    const { granted, full } = await this.run(request, request.reservationId, 'c');
    if (!granted) return { granted: false, full };
    const reservation = {
      channel: request.channel,
      reservationId: request.reservationId,
      limits: request.limits,
    };
    return { granted: true, reservation, full };
  }

  async peek(request: Omit<SpendReserveRequest, 'reservationId'>): Promise<readonly SpendLimit[]> {
    return (await this.run(request, SPEND_PEEK_ID, 'p')).full;
  }

  async release(reservation: SpendReservation): Promise<void> {
    if (reservation.limits.length === 0) return;
    const results = await this.client
      .pipeline(
        reservation.limits.map((limit) => [
          'zrem',
          this.keyPrefix + spendKey(reservation.channel, limit),
          reservation.reservationId,
        ]),
      )
      .exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  async budgetUsed(channel: SpendChannel, day: string): Promise<number> {
    return this.client.zcard(this.keyPrefix + budgetKey(channel, day));
  }

  async close(): Promise<void> {
    await this.client.quit();
  }

  private async run(
    request: Omit<SpendReserveRequest, 'reservationId'>,
    reservationId: string,
    mode: 'c' | 'p',
  ): Promise<{ granted: boolean; full: SpendLimit[] }> {
    checkSpendRequest(request);
    const { limits } = request;
    if (limits.length === 0) return { granted: true, full: [] };
    const keys = limits.map((limit) => this.keyPrefix + spendKey(request.channel, limit));
    const args = [String(request.now.getTime()), reservationId, mode];
    for (const limit of limits) {
      args.push(
        String(limit.limit),
        String(limit.windowSeconds * 1000),
        limit.enforced ? '1' : '0',
      );
    }
    const reply = await this.evalReserve(keys, args);
    if (
      !Array.isArray(reply) ||
      reply.length < 1 ||
      !reply.every((value): value is number => typeof value === 'number')
    ) {
      throw new Error(`unexpected reply from the spend reserve script: ${JSON.stringify(reply)}`);
    }
    const [granted, ...indexes] = reply;
    const full = indexes.map((index) => {
      const limit = limits[index - 1];
      if (limit === undefined) throw new Error(`spend reserve script named limit #${index}`);
      return limit;
    });
    return { granted: granted === 1, full };
  }

  private async evalReserve(keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(SPEND_RESERVE_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      // First use on this server, or its script cache was flushed: EVAL runs it and caches it.
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      return this.client.eval(SPEND_RESERVE_SCRIPT, keys.length, ...keys, ...args);
    }
  }
}
