/**
 * The Redis adapter of the L2 port (./l2.ts). The two-tier cache knows Redis only through the port,
 * so it can be handed a real server in tests and a benchmark can compare it with raw commands.
 * Generation counters make group invalidation one command whatever the number of keys: no KEYS,
 * no SCAN. Counters never go backwards: a bump takes max(current + 1, server time in µs), and a
 * missing counter (evicted, deleted, flushed) is recreated from server time, a value no entry
 * written before it can carry. Counters kept per entity (a product's) are never created by a read:
 * a read reports them ABSENT, and only the fill of an entity that exists (or a write) creates them,
 * so reading ids that do not exist leaves nothing behind.
 */
import { Cluster, Command } from 'ioredis';
import type { RedisClient } from '../shared/clients/redis';
import { ABSENT, type BumpResult, type L2Read, type L2Store } from './l2';

export interface RedisL2StoreOptions {
  /**
   * After a bump, `WAIT 1 <ms>` on the master that took it (same connection, same pipeline, so
   * it covers that write). 0: no WAIT (a deployment without replicas, where WAIT 1 could only
   * time out).
   */
  readonly replicaAckMs?: number;
}

const NOW_MICROS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])`;

const LUA_INIT_GENERATIONS = `${NOW_MICROS}
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if not v then
    v = string.format('%d', now)
    redis.call('SET', k, v)
  end
  out[i] = v
end
return out`;

const LUA_BUMP = `${NOW_MICROS}
local out = {}
for i, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k) or '0') or 0
  local nxt = math.max(cur + 1, now)
  local s = string.format('%d', nxt)
  redis.call('SET', k, s)
  out[i] = s
end
return out`;

// KEYS: entry, lease, generation keys...
// ARGV: payload, ttlMs, leaseToken, the expected value of each generation ('' = must not exist),
// then for each generation the value to create it with ('' = none).
// The lease is released whether or not the write is refused, so waiters never sit out its TTL.
const LUA_WRITE_IF_CURRENT = `if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
local n = #KEYS - 2
for i = 1, n do
  local current = redis.call('GET', KEYS[i + 2])
  local expected = ARGV[3 + i]
  if expected == '' then
    if current then return 0 end
  elseif current ~= expected then
    return 0
  end
end
for i = 1, n do
  local created = ARGV[3 + n + i]
  if created and created ~= '' then redis.call('SET', KEYS[i + 2], created) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const LUA_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const LUA_INCR_WINDOW = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

interface ScriptedClient {
  shopEdgeInitGenerations(numKeys: number, ...keys: string[]): Promise<string[]>;
  shopEdgeBump(numKeys: number, ...keys: string[]): Promise<string[]>;
  shopEdgeWriteIfCurrent(numKeys: number, ...args: (string | Buffer)[]): Promise<number>;
  shopEdgeRelease(numKeys: number, key: string, token: string): Promise<number>;
  shopEdgeIncrWindow(numKeys: number, key: string, windowMs: string): Promise<number>;
}

const SCRIPTS: Record<keyof ScriptedClient, string> = {
  shopEdgeInitGenerations: LUA_INIT_GENERATIONS,
  shopEdgeBump: LUA_BUMP,
  shopEdgeWriteIfCurrent: LUA_WRITE_IF_CURRENT,
  shopEdgeRelease: LUA_RELEASE,
  shopEdgeIncrWindow: LUA_INCR_WINDOW,
};

/** Hash-tag of a key: keys with the same tag live in one cluster slot. */
function slotTag(key: string): string {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The connection's per-command timeout (a cluster's is in its node options). */
function commandTimeoutOf(redis: RedisClient): number {
  const options = redis instanceof Cluster ? redis.options.redisOptions : redis.options;
  return options?.commandTimeout ?? 0;
}

/** Connections that have been ready at least once (their first connect is over). */
const connectedOnce = new WeakSet<RedisClient>();
const watched = new WeakSet<RedisClient>();

function watchFirstConnect(redis: RedisClient): void {
  if (watched.has(redis)) return;
  watched.add(redis);
  if (redis.status === 'ready') connectedOnce.add(redis);
  else redis.once('ready', () => connectedOnce.add(redis));
}

export class RedisL2Store implements L2Store {
  private readonly scripted: ScriptedClient;

  private readonly replicaAckMs: number;

  constructor(
    private readonly redis: RedisClient,
    options: RedisL2StoreOptions = {},
  ) {
    this.replicaAckMs = options.replicaAckMs ?? 0;
    watchFirstConnect(redis);
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      // defineCommand is idempotent per name; EVALSHA with EVAL fallback.
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
    this.scripted = redis as unknown as ScriptedClient;
  }

  async read(entryKeys: readonly string[], generationKeys: readonly string[], perEntity: readonly string[] = []): Promise<L2Read> {
    const values = await this.redis.mgetBuffer(...entryKeys, ...generationKeys);
    const entries = entryKeys.map((_, i) => values[i] ?? null);
    const generations = generationKeys.map((_, i) => values[entryKeys.length + i]?.toString('latin1'));
    const missing = generationKeys.filter((key, i) => generations[i] === undefined && !perEntity.includes(key));
    if (missing.length === 0) return { entries, generations: generations.map((g) => g ?? ABSENT) };
    // A shared counter is missing: recreate it from server time, so no existing entry matches it.
    const created = await this.scripted.shopEdgeInitGenerations(missing.length, ...missing);
    const recreated = new Map(missing.map((key, i) => [key, created[i] as string]));
    return {
      entries: entries.map(() => null),
      generations: generationKeys.map((key, i) => recreated.get(key) ?? generations[i] ?? ABSENT),
    };
  }

  async writeIfCurrent(
    entryKey: string,
    generationKeys: readonly string[],
    expected: readonly string[],
    payload: Buffer,
    ttlMs: number,
    lease?: { key: string; token: string },
    create: readonly string[] = [],
  ): Promise<boolean> {
    const leaseKey = lease?.key ?? entryKey; // same slot either way
    const written = await this.scripted.shopEdgeWriteIfCurrent(
      2 + generationKeys.length,
      entryKey,
      leaseKey,
      ...generationKeys,
      payload,
      String(Math.max(1, Math.round(ttlMs))),
      lease?.token ?? '',
      ...expected,
      ...generationKeys.map((_, i) => create[i] ?? ''),
    );
    return written === 1;
  }

  async acquireLease(leaseKey: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(leaseKey, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK';
  }

  async releaseLease(leaseKey: string, token: string): Promise<void> {
    await this.scripted.shopEdgeRelease(1, leaseKey, token);
  }

  async bump(generationKeys: readonly string[]): Promise<BumpResult> {
    // One script per slot (a cluster refuses multi-slot scripts).
    const bySlot = new Map<string, string[]>();
    for (const key of generationKeys) {
      const tag = slotTag(key);
      bySlot.set(tag, [...(bySlot.get(tag) ?? []), key]);
    }
    const results = new Map<string, string>();
    const acks = await Promise.all(
      [...bySlot.values()].map(async (keys) => {
        const { values, replicated } = await this.bumpSlot(keys);
        keys.forEach((k, i) => results.set(k, values[i] as string));
        return replicated;
      }),
    );
    return { values: generationKeys.map((k) => results.get(k) as string), replicated: acks.every(Boolean) };
  }

  /**
   * The bump of one slot's keys, then WAIT on the same connection: a cluster sends a pipeline to
   * the master of its keys' slot (WAIT has no key, so alone it would go to any node), and WAIT
   * counts the replicas that have every write of that connection so far.
   */
  private async bumpSlot(keys: string[]): Promise<{ values: string[]; replicated: boolean }> {
    if (this.replicaAckMs <= 0) return { values: await this.scripted.shopEdgeBump(keys.length, ...keys), replicated: true };
    const pipeline = this.redis.pipeline();
    void (pipeline as unknown as ScriptedClient).shopEdgeBump(keys.length, ...keys);
    const wait = new Command('wait', ['1', String(this.replicaAckMs)], { replyEncoding: 'utf8' });
    // The connection's command timeout (tens of ms) would cut the WAIT short: WAIT gets its own
    // bound plus that margin (a timer set first wins). The bump keeps the connection's timeout.
    wait.setTimeout(this.replicaAckMs + commandTimeoutOf(this.redis));
    (pipeline as unknown as { sendCommand(command: Command): unknown }).sendCommand(wait);
    const replies = (await pipeline.exec()) ?? [];
    const [bumpError, values] = replies[0] ?? [new Error('bump: no reply')];
    if (bumpError && /^(MOVED|ASK) /.test(bumpError.message)) {
      // The slot moved (a failover). ioredis follows a pipeline's redirection only when every
      // reply is that redirection, and WAIT answered: bump alone, which follows it and updates the
      // slot map. Not acknowledged by a replica, so reported not replicated (bumped again later).
      return { values: await this.scripted.shopEdgeBump(keys.length, ...keys), replicated: false };
    }
    if (bumpError) throw bumpError;
    const [waitError, acked] = replies[1] ?? [new Error('WAIT: no reply')];
    return { values: values as string[], replicated: !waitError && Number(acked) >= 1 };
  }

  async incrementWindow(key: string, windowMs: number): Promise<number> {
    return this.scripted.shopEdgeIncrWindow(1, key, String(windowMs));
  }

  ready(): Promise<void> {
    const redis = this.redis;
    // Once connected, a lost connection is the server's health, for the caller's own bound to judge.
    if (redis.status === 'ready' || connectedOnce.has(redis)) return Promise.resolve();
    const options = redis instanceof Cluster ? redis.options.redisOptions : redis.options;
    const timeoutMs = options?.connectTimeout ?? 10_000;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      redis.once('ready', done);
    });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}

/**
 * The L2 store over a connection that may not be there yet or may be replaced (a failed connect
 * tried again later, a rotated AUTH token): each call takes the current connection, or fails as
 * getting it fails, fast (the breaker counts it, reads fall back to the origin).
 */
export class ReconnectingL2Store implements L2Store {
  private current: { readonly client: RedisClient; readonly store: RedisL2Store } | undefined;

  /** `onError` sees every failure (the connection's owner watches for refused tokens). */
  constructor(
    private readonly connection: () => Promise<RedisClient>,
    private readonly onError: (error: unknown) => void = () => undefined,
    private readonly options: RedisL2StoreOptions = {},
  ) {}

  read(entryKeys: readonly string[], generationKeys: readonly string[], perEntity?: readonly string[]): Promise<L2Read> {
    return this.run((store) => store.read(entryKeys, generationKeys, perEntity));
  }

  writeIfCurrent(
    entryKey: string,
    generationKeys: readonly string[],
    expected: readonly string[],
    payload: Buffer,
    ttlMs: number,
    lease?: { key: string; token: string },
    create?: readonly string[],
  ): Promise<boolean> {
    return this.run((store) => store.writeIfCurrent(entryKey, generationKeys, expected, payload, ttlMs, lease, create));
  }

  acquireLease(leaseKey: string, token: string, ttlMs: number): Promise<boolean> {
    return this.run((store) => store.acquireLease(leaseKey, token, ttlMs));
  }

  releaseLease(leaseKey: string, token: string): Promise<void> {
    return this.run((store) => store.releaseLease(leaseKey, token));
  }

  bump(generationKeys: readonly string[]): Promise<BumpResult> {
    return this.run((store) => store.bump(generationKeys));
  }

  incrementWindow(key: string, windowMs: number): Promise<number> {
    return this.run((store) => store.incrementWindow(key, windowMs));
  }

  async ready(): Promise<void> {
    // Getting the connection waits for its first connect, within the connect timeout; a failed
    // attempt (the secret unreadable, the connect refused) fails fast until its backoff is over.
    await this.run((store) => store.ready()).catch(() => undefined);
  }

  ping(): Promise<void> {
    return this.run((store) => store.ping());
  }

  private async run<T>(call: (store: RedisL2Store) => Promise<T>): Promise<T> {
    try {
      const client = await this.connection();
      if (this.current?.client !== client) this.current = { client, store: new RedisL2Store(client, this.options) };
      return await call(this.current.store);
    } catch (error) {
      this.onError(error);
      throw error;
    }
  }
}
