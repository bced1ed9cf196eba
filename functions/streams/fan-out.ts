/**
 * Turns committed Shop changes into WebSocket messages for that tenant's subscribers.
 * - Records of one entity are handled in order (one product's updates reach a client in version
 *   order); different entities in parallel, posts with bounded concurrency.
 * - Conflated within a batch: of an entity's changes in one batch, only the latest is sent (only
 *   the latest stock matters; the ones it supersedes are counted, never sent). Its low-stock
 *   state is still judged change by change.
 * - Superseded across batches: a fan-out that goes on past its first SUPERSEDED_CHECK_EVERY
 *   posts reads the entity's version in the table before each further such number of posts. Once
 *   the table holds a newer one, the subscribers not reached yet are not sent this version
 *   (counted): the newer version's record, in a later batch of the shard, goes to all of them,
 *   starting with those (the fan-out after a superseded one starts where it stopped and comes
 *   round to the rest last), so under a stream of versions every subscriber is sent one in turn.
 *   A failed read changes nothing.
 * - A gone connection (410) is removed with its subscriptions; it is not a failure.
 * - A subscriber whose token has expired gets no more updates: its session is ended (the error
 *   TOKEN_EXPIRED, then the connection is closed), as its next message would end it.
 * - On a failure the batch reports its first failed record: Lambda retries from there, and the
 *   client drops what it already has (every message carries the entity's version). A post that
 *   fails (a timeout, a 5xx) fails its change once the other subscribers have been sent to; the
 *   retry, in this container, posts only to the subscribers not reached, and nothing again for a
 *   change whose every subscriber was reached (a batch retried for a later change, a dashboard
 *   read or the CDN purge). A post that timed out may still have been delivered: at least once.
 * - Posts are paced against API Gateway's account throttle (./pacer.ts): a throttled post (429)
 *   slows every post of the container down and is tried again in its turn. One throttled
 *   MAX_THROTTLED_ATTEMPTS times in a row fails its change (Lambda retries the batch) once the
 *   other subscribers have been sent to; the retry, in this container, posts only to those.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { availabilityOf } from '../catalog/model';
import { toProduct } from '../catalog/dynamodb/items';
import type { ShopRepository } from '../catalog/ports';
import { channelNames } from '../realtime/channels';
import type { AttemptResult, ConnectionStore } from '../realtime/ports';
import { dashboardMessage, TOKEN_EXPIRED, type ServerMessage } from '../realtime/messages';
import { MAX_MESSAGE_BYTES, type ConnectionNotifier } from '../realtime/notifier';
import { logger } from '../shared/observability';
import { changeOf, isVersionChange, versionOf, type Change } from './changes';
import { Pacer } from './pacer';

export interface FanOutDependencies {
  readonly connections: ConnectionStore;
  readonly repo: ShopRepository;
  readonly notifier: ConnectionNotifier;
  /** Posts in flight at once. @default 64 */
  readonly concurrency?: number;
  /** Paces the posts against the account throttle. @default one of its own */
  readonly pacer?: Pacer;
}

export interface FanOutReport extends DynamoDBBatchResponse {
  readonly delivered: number;
  readonly gone: number;
  /** Sessions ended because their token had expired. */
  readonly ended: number;
  /** Posts the management API answered 429 (each was tried again). */
  readonly throttled: number;
  /** Posts that failed otherwise (a timeout, a 5xx): their change is retried for them. */
  readonly failed: number;
  /** Changes not sent because a later change of the same entity in the batch superseded them. */
  readonly conflated: number;
  /**
   * Posts not made because, when the fan-out came to them, the table already
   * held a newer version of the entity (its own record sends that one).
   */
  readonly superseded: number;
}

type Counters = {
  delivered: number;
  gone: number;
  ended: number;
  throttled: number;
  failed: number;
  conflated: number;
  superseded: number;
};

/** A subscriber a superseded fan-out did not reach: the first of them, and the page it is in. */
interface Rotation {
  readonly page: Record<string, unknown> | undefined;
  readonly connectionId: string;
}

/** Answers whether the table already holds a version newer than the one being sent. */
type SupersededCheck = () => Promise<boolean>;

/** Times one post may be throttled in a row before its change fails (and Lambda retries the batch). */
export const MAX_THROTTLED_ATTEMPTS = 10;
/**
 * Posts between two reads of the entity's current version, in a fan-out that goes on past them:
 * at the account's 10,000/s, 250 posts take 25 ms, and a version superseded meanwhile stops within
 * that many posts (plus those in flight), rather than at the end of a page of subscribers
 * (thousands).
 */
const SUPERSEDED_CHECK_EVERY = 250;

/** Changes' progress remembered for Lambda's retry of their batch (this many at most). */
const PROGRESS_KEPT = 1024;

/**
 * Some subscribers were not reached (throttled past MAX_THROTTLED_ATTEMPTS, or their post
 * failed); the others were sent to.
 */
export class FanOutUnreachedError extends Error {
  override readonly name = 'FanOutUnreachedError';
  constructor(readonly connectionIds: readonly string[]) {
    super(`${connectionIds.length} subscribers not reached (throttled ${MAX_THROTTLED_ATTEMPTS} times, or their post failed)`);
  }
}

/** Runs fn over items with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(workers);
}

const iso = (ms: number) => new Date(ms).toISOString();

export class FanOut {
  private readonly concurrency: number;
  private readonly pacer: Pacer;
  /**
   * Stream record (sequence number) → the subscribers its fan-out has still to reach (none: all
   * were): Lambda's retry of the batch posts to these only, not again to the others (a retry in
   * another container posts to all; the clients drop a version they have).
   */
  private readonly progress = new Map<string, ReadonlySet<string>>();
  /** Tenant and channel → where its last fan-out was superseded (the next one starts there). */
  private readonly rotations = new Map<string, Rotation>();

  constructor(private readonly deps: FanOutDependencies) {
    this.concurrency = deps.concurrency ?? 64;
    this.pacer = deps.pacer ?? new Pacer();
  }

  async handle(records: readonly DynamoDBRecord[]): Promise<FanOutReport> {
    const changes = records.map(changeOf).filter((c): c is Change => c !== undefined);
    const byEntity = new Map<string, Change[]>();
    for (const change of changes) {
      const key = `${change.tenantId}/${change.kind}/${change.id}`;
      byEntity.set(key, [...(byEntity.get(key) ?? []), change]);
    }
    const failed: Change[] = [];
    const counters: Counters = { delivered: 0, gone: 0, ended: 0, throttled: 0, failed: 0, conflated: 0, superseded: 0 };
    const dashboards = new Set<string>();
    const goneConnections = new Set<string>();
    await forEachLimited([...byEntity.values()], 8, async (sequence) => {
      // The entity's latest message of the batch: the earlier ones it supersedes are not sent.
      const latest = sequence.findLast((change) => isVersionChange(change) && messageFor(change) !== undefined);
      for (const change of sequence) {
        try {
          await this.apply(change, dashboards, goneConnections, counters, latest === undefined || change === latest);
        } catch {
          failed.push(change);
          return; // later changes of this entity wait for the retry, keeping version order
        }
      }
    });
    // Dashboard figures once per tenant per batch, after every change above is counted.
    const dashboardFailures = new Set<string>();
    await forEachLimited([...dashboards], 8, async (tenantId) => {
      try {
        const metrics = await this.deps.repo.getDashboard(tenantId);
        await this.broadcast(tenantId, channelNames.dashboard, dashboardMessage(tenantId, metrics), goneConnections, counters);
      } catch {
        dashboardFailures.add(tenantId);
      }
    });
    for (const change of changes) if (dashboardFailures.has(change.tenantId) && change.kind === 'metrics') failed.push(change);
    const first = failed.sort((a, b) => changes.indexOf(a) - changes.indexOf(b))[0];
    return { batchItemFailures: first ? [{ itemIdentifier: first.sequenceNumber }] : [], ...counters };
  }

  private async apply(change: Change, dashboards: Set<string>, gone: Set<string>, counters: Counters, send: boolean): Promise<void> {
    if (change.kind === 'metrics') {
      dashboards.add(change.tenantId);
      return;
    }
    if (change.kind === 'stock') await this.countLowStock(change);
    if (!isVersionChange(change)) return;
    const message = messageFor(change);
    if (!message) return;
    if (!send) {
      counters.conflated++;
      return;
    }
    const only = this.progress.get(change.sequenceNumber);
    if (only?.size === 0) return; // every subscriber was reached before the retry
    try {
      await this.broadcast(change.tenantId, message.channel, message.body, gone, counters, only, () => this.isSuperseded(change));
      this.remember(change.sequenceNumber, new Set());
    } catch (error) {
      if (error instanceof FanOutUnreachedError) this.remember(change.sequenceNumber, new Set(error.connectionIds));
      throw error;
    }
  }

  private remember(sequenceNumber: string, unreached: ReadonlySet<string>): void {
    setNewest(this.progress, sequenceNumber, unreached);
  }

  /**
   * Keeps the dashboard's low-stock count in step: a change that moves a stock item into or out of
   * low stock (a deletion moves it out, a product created again in) records its new state at its
   * version. Judged on the images before and after, not on the lowCounted mark the image carries:
   * that mark is written after the change, so an image of a quick second change still shows the
   * mark as it was before the first was counted. Idempotent: replays change nothing.
   */
  private async countLowStock(change: Change): Promise<void> {
    const after = change.after;
    if (!after || typeof after.version !== 'number') return;
    const isLow = isLowStock(after);
    if (isLow !== isLowStock(change.before)) await this.deps.repo.recordStockState(change.tenantId, change.id, after.version, isLow);
  }

  /**
   * Whether the table holds a newer version of the change's entity than the change's: read once
   * every SUPERSEDED_CHECK_EVERY posts. Cannot tell (no item, a failed read): not superseded,
   * so the latest version is never the one left out.
   */
  private async isSuperseded(change: Change): Promise<boolean> {
    if (change.kind === 'metrics') return false;
    const version = versionOf(change.after);
    try {
      const current = await this.deps.repo.currentVersion(change.kind, change.tenantId, change.id);
      return current !== undefined && current > version;
    } catch (error) {
      logger.warn('could not read the current version; the fan-out goes on', {
        error: error as Error,
        kind: change.kind,
        id: change.id,
        version,
      });
      return false;
    }
  }

  /**
   * Posts to every subscriber of the channel (`only`: to those of them only). `superseded`, asked
   * every SUPERSEDED_CHECK_EVERY posts: once it answers true, the rest are not sent to, and neither
   * are the throttled of the earlier posts (the newer version is sent to all of them).
   */
  private async broadcast(
    tenantId: string,
    channel: string,
    message: ServerMessage,
    gone: Set<string>,
    counters: Counters,
    only?: ReadonlySet<string>,
    superseded?: SupersededCheck,
  ): Promise<void> {
    const body: ServerMessage =
      Buffer.byteLength(JSON.stringify(message)) > MAX_MESSAGE_BYTES ? { type: 'refetch', channel, reason: 'too-large' } : message;
    const unreached: string[] = [];
    let stale = false;
    let sinceCheck = 0;
    let check: Promise<void> | undefined;
    /**
     * Whether the next post may go: every SUPERSEDED_CHECK_EVERY posts the table is read (none
     * before the first), and posts not begun wait for that read; those in flight go on, so the
     * posts keep their concurrency. Once superseded, no post goes.
     */
    const mayPost = async (): Promise<boolean> => {
      if (check) await check;
      if (stale) return false;
      if (superseded !== undefined && sinceCheck >= SUPERSEDED_CHECK_EVERY) {
        sinceCheck = 0;
        check = superseded()
          .then((newer) => {
            if (!newer) return;
            stale = true;
            // The throttled of the earlier posts are left out too: the newer version goes to them.
            counters.superseded += unreached.length;
            unreached.length = 0;
          })
          .finally(() => (check = undefined));
        await check;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the read just awaited
        if (stale) return false;
      }
      sinceCheck++;
      return true;
    };
    // Where the last fan-out of the channel was superseded: this one starts there and comes round
    // to the subscribers before it last, so a hot entity's versions do not go to the first
    // subscribers only while the rest wait for the last version.
    const rotationKey = `${tenantId}/${channel}`;
    const from = only === undefined ? this.rotations.get(rotationKey) : undefined;
    let stoppedAt: Rotation | undefined;
    /** One pass over the pages from `start`, posting to the subscribers `include` keeps (pages come in connection id order). */
    const pass = async (
      start: Record<string, unknown> | undefined,
      include: (connectionId: string) => boolean,
      lastPage: (connectionIds: readonly string[]) => boolean,
    ): Promise<void> => {
      let page = start;
      do {
        const subscribers = await this.deps.connections.subscribers(tenantId, channel, page);
        const { next } = subscribers;
        const kept = (id: string) => include(id) && (only === undefined || only.has(id));
        await forEachLimited(
          subscribers.expired.filter((id) => kept(id) && !gone.has(id)),
          this.concurrency,
          async (connectionId) => {
            gone.add(connectionId);
            counters.ended++;
            if ((await this.deps.notifier.post(connectionId, TOKEN_EXPIRED)) === 'sent') await this.deps.notifier.disconnect(connectionId);
            await this.deps.connections.remove(connectionId);
          },
        );
        // Superseded: the remaining pages are still read, for their expired sessions and the count.
        const pageStart = page;
        await forEachLimited(
          subscribers.connectionIds.filter((id) => kept(id) && !gone.has(id)),
          this.concurrency,
          async (connectionId) => {
            if (!(await mayPost())) {
              // The first left out, in the order posts are taken: where the next version starts.
              stoppedAt ??= { page: pageStart, connectionId };
              counters.superseded++;
              return;
            }
            const result = await this.paced(connectionId, body, counters);
            if (result === 'sent') {
              counters.delivered++;
              return;
            }
            if (result === 'throttled' || result === 'failed') {
              unreached.push(connectionId);
              return;
            }
            gone.add(connectionId);
            counters.gone++;
            await this.deps.connections.remove(connectionId);
          },
        );
        if (lastPage([...subscribers.connectionIds, ...subscribers.expired])) return;
        page = next;
      } while (page);
    };
    if (from === undefined)
      await pass(
        undefined,
        () => true,
        () => false,
      );
    else {
      await pass(
        from.page,
        (id) => id >= from.connectionId,
        () => false,
      );
      await pass(
        undefined,
        (id) => id < from.connectionId,
        (ids) => ids.some((id) => id >= from.connectionId),
      );
    }
    if (only === undefined) {
      if (stoppedAt === undefined) this.rotations.delete(rotationKey);
      else setNewest(this.rotations, rotationKey, stoppedAt);
    }
    if (unreached.length > 0) throw new FanOutUnreachedError(unreached);
  }

  /**
   * One post in the pacer's turn, tried again in later turns while throttled (MAX_THROTTLED_ATTEMPTS
   * in all). 'failed': the post threw (logged once per batch; the change is retried for it).
   */
  private async paced(connectionId: string, body: ServerMessage, counters: Counters): Promise<'sent' | 'gone' | 'throttled' | 'failed'> {
    const { notifier } = this.deps;
    // A notifier that cannot answer 'throttled' retries on its own.
    if (notifier.attempt === undefined)
      return notifier.post(connectionId, body).catch((error: unknown) => this.failedPost(error, counters));
    for (let attempt = 1; ; attempt++) {
      // Unpaced (nothing throttled lately), a post does not wait, not even for a promise.
      const round = this.pacer.paced ? await this.pacer.turn() : this.pacer.currentRound;
      let result: AttemptResult;
      try {
        result = await notifier.attempt(connectionId, body);
      } catch (error) {
        return this.failedPost(error, counters);
      }
      if (result !== 'throttled') {
        if (result === 'sent') this.pacer.sent();
        return result;
      }
      counters.throttled++;
      this.pacer.throttled(round);
      if (attempt >= MAX_THROTTLED_ATTEMPTS) return 'throttled';
    }
  }

  private failedPost(error: unknown, counters: Counters): 'failed' {
    // Once per batch: a management API that times out fails many posts at once.
    if (counters.failed++ === 0)
      logger.warn('a post failed; its change is retried for the subscribers not reached', { error: error as Error });
    return 'failed';
  }
}

/** Sets key to value as the map's newest entry, dropping the oldest past PROGRESS_KEPT. */
function setNewest<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  for (const [oldest] of map) {
    if (map.size <= PROGRESS_KEPT) break;
    map.delete(oldest);
  }
}

/** Out of stock counts too; a deleted product's stock never does. */
function isLowStock(image: Record<string, unknown> | undefined): boolean {
  return image !== undefined && !image.deletedAt && Number(image.stock) <= Number(image.lowStockThreshold ?? 0);
}

function messageFor(change: Change): { channel: string; body: ServerMessage } | undefined {
  const after = change.after;
  const timestamp = iso(change.committedAt);
  if (!after) return undefined;
  switch (change.kind) {
    case 'stock': {
      // Deleted with its product: product:updated (null) says so.
      if (after.deletedAt) return undefined;
      const stock = Number(after.stock);
      return {
        channel: channelNames.product(change.id),
        body: {
          type: 'stock:update',
          productId: change.id,
          stock,
          availability: availabilityOf(stock, Number(after.lowStockThreshold ?? 0)),
          version: Number(after.version),
          timestamp,
        },
      };
    }
    case 'product':
      return {
        channel: channelNames.product(change.id),
        body: {
          type: 'product:updated',
          productId: change.id,
          product: after.deletedAt ? null : toProduct(after),
          version: Number(after.version),
          timestamp,
        },
      };
    case 'order':
      return {
        channel: channelNames.order(change.id),
        body: { type: 'order:update', orderId: change.id, status: String(after.status), version: Number(after.version), timestamp },
      };
    case 'metrics':
      // The dashboard gets the tenant's figures read afresh once per batch (dashboardMessage).
      return undefined;
  }
}
