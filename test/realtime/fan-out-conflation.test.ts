/**
 * Conflation within a batch: of one entity's changes in a batch, subscribers are sent the latest
 * version only, and never a version lower than one sent before it; the superseded ones are counted.
 * Without a stack: FanOut over a store of subscribers and a notifier that records what it posts.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { ShopRepository } from '../../functions/catalog/ports';
import type { AttemptResult, ConnectionNotifier, PostResult } from '../../functions/realtime/notifier';
import type { ServerMessage } from '../../functions/realtime/messages';
import type { ConnectionStore, SubscriberPage } from '../../functions/realtime/ports';
import { FanOut } from '../../functions/streams/fan-out';
import { Pacer } from '../../functions/streams/pacer';

const TENANT = 'acme';

function stockRecord(productId: string, version: number, stock: number, sequence: number): DynamoDBRecord {
  const keys = { pk: `T#${TENANT}`, sk: `S#${productId}` };
  const image = (v: number, s: number) => ({
    ...keys,
    entity: 'stock',
    tenantId: TENANT,
    productId,
    stock: s,
    lowStockThreshold: 5,
    version: v,
    lastUpdated: new Date().toISOString(),
  });
  return {
    eventName: 'MODIFY',
    dynamodb: {
      Keys: marshall(keys) as never,
      OldImage: marshall(image(version - 1, stock + 1)) as never,
      NewImage: marshall(image(version, stock)) as never,
      SequenceNumber: String(sequence).padStart(21, '0'),
      ApproximateCreationDateTime: Date.now() / 1000,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

const SUBSCRIBERS = ['c1', 'c2', 'c3'];
const store = {
  subscribers: (): Promise<SubscriberPage> => Promise.resolve({ connectionIds: SUBSCRIBERS, expired: [] }),
  remove: () => Promise.resolve(),
} as unknown as ConnectionStore;

class RecordingNotifier implements ConnectionNotifier {
  readonly posts: { connectionId: string; message: ServerMessage }[] = [];
  /** `onPost` runs after each post is recorded. */
  constructor(private readonly onPost: () => void = () => undefined) {}
  attempt(connectionId: string, message: ServerMessage): Promise<AttemptResult> {
    this.posts.push({ connectionId, message });
    this.onPost();
    return Promise.resolve('sent');
  }
  post(connectionId: string, message: ServerMessage): Promise<PostResult> {
    this.posts.push({ connectionId, message });
    return Promise.resolve('sent');
  }
  disconnect(): Promise<void> {
    return Promise.resolve();
  }
}

function versionsPosted(notifier: RecordingNotifier, connectionId: string, productId: string): number[] {
  return notifier.posts
    .filter((p) => p.connectionId === connectionId && p.message.type === 'stock:update' && p.message.productId === productId)
    .map((p) => (p.message as { version: number }).version);
}

it("sends each subscriber an entity's latest version of the batch only, and counts the superseded ones", async () => {
  const recorded: { productId: string; version: number; isLow: boolean }[] = [];
  const repo = {
    recordStockState: (_tenant: string, productId: string, version: number, isLow: boolean) => {
      recorded.push({ productId, version, isLow });
      return Promise.resolve();
    },
  } as unknown as ShopRepository;
  const notifier = new RecordingNotifier();
  const fanOut = new FanOut({ connections: store, repo, notifier });
  // Twenty versions of a hot product, two of another, interleaved as the stream delivers them.
  const records: DynamoDBRecord[] = [];
  let sequence = 1;
  for (let version = 2; version <= 21; version++) {
    records.push(stockRecord('hot', version, 25 - version, sequence++));
    if (version === 5 || version === 9) records.push(stockRecord('calm', version === 5 ? 2 : 3, 30, sequence++));
  }
  const report = await fanOut.handle(records);

  expect(report.batchItemFailures).toEqual([]);
  for (const connectionId of SUBSCRIBERS) {
    expect(versionsPosted(notifier, connectionId, 'hot')).toEqual([21]);
    expect(versionsPosted(notifier, connectionId, 'calm')).toEqual([3]);
  }
  expect(report.delivered).toBe(2 * SUBSCRIBERS.length);
  expect(report.conflated).toBe(19 + 1);
  // The low-stock count still follows every change, superseded or not: version 20 (stock 6 -> 5)
  // moved the hot product into low stock, and version 21 superseded it.
  expect(recorded).toEqual([{ productId: 'hot', version: 20, isLow: true }]);
});

it('sends a version the next batch brings, never one lower than the one already sent', async () => {
  const notifier = new RecordingNotifier();
  const fanOut = new FanOut({
    connections: store,
    repo: { recordStockState: () => Promise.resolve() } as unknown as ShopRepository,
    notifier,
  });
  await fanOut.handle([stockRecord('hot', 2, 10, 1), stockRecord('hot', 3, 9, 2)]);
  await fanOut.handle([stockRecord('hot', 4, 8, 3), stockRecord('hot', 5, 7, 4), stockRecord('hot', 6, 6, 5)]);
  for (const connectionId of SUBSCRIBERS) expect(versionsPosted(notifier, connectionId, 'hot')).toEqual([3, 6]);
});

describe('across batches, while a fan-out is behind', () => {
  const PAGE = 250;
  const MANY = Array.from({ length: 1000 }, (_, i) => `m${String(i).padStart(4, '0')}`);

  /** Four pages of subscribers; `onPage(n)` runs as page n (from 0) is read. */
  function pagedStore(onPage: (page: number) => void = () => undefined): ConnectionStore {
    return {
      subscribers: (_tenant: string, _channel: string, startKey?: Record<string, unknown>): Promise<SubscriberPage> => {
        const offset = Number(startKey?.offset ?? 0);
        onPage(offset / PAGE);
        const end = offset + PAGE;
        return Promise.resolve({
          connectionIds: MANY.slice(offset, end),
          expired: [],
          ...(end < MANY.length ? { next: { offset: end } } : {}),
        });
      },
      remove: () => Promise.resolve(),
    } as unknown as ConnectionStore;
  }

  /** The table's version of the stock item, read as currentVersion would; every read counted. */
  function table(version: () => Promise<number | undefined>) {
    const reads: { entity: string; tenantId: string; id: string }[] = [];
    const repo = {
      recordStockState: () => Promise.resolve(),
      currentVersion: (entity: string, tenantId: string, id: string) => {
        reads.push({ entity, tenantId, id });
        return version();
      },
    } as unknown as ShopRepository;
    return { repo, reads };
  }

  it('stops sending a version the table has already superseded; the newer one reaches everyone', async () => {
    let committed = 2;
    const { repo, reads } = table(() => Promise.resolve(committed));
    // Version 3 is committed while version 2 is still being sent: after its first page.
    const notifier = new RecordingNotifier();
    const fanOut = new FanOut({ connections: pagedStore((page) => page === 1 && (committed = 3)), repo, notifier });

    const first = await fanOut.handle([stockRecord('hot', 2, 10, 1)]);
    expect(first.batchItemFailures).toEqual([]);
    expect(first.delivered).toBe(PAGE);
    expect(first.superseded).toBe(MANY.length - PAGE);
    // Read once, before the second page; never again once superseded.
    expect(reads).toEqual([{ entity: 'stock', tenantId: TENANT, id: 'hot' }]);

    const second = await fanOut.handle([stockRecord('hot', 3, 9, 2)]);
    expect(second.delivered).toBe(MANY.length);
    expect(second.superseded).toBe(0);
    MANY.forEach((connectionId, i) => expect(versionsPosted(notifier, connectionId, 'hot')).toEqual(i < PAGE ? [2, 3] : [3]));
  });

  it('stops within a page too: one page of 1,000 subscribers is read again every 250 posts', async () => {
    let committed = 2;
    const { repo, reads } = table(() => Promise.resolve(committed));
    const onePage = {
      subscribers: () => Promise.resolve({ connectionIds: MANY, expired: [] }),
      remove: () => Promise.resolve(),
    } as unknown as ConnectionStore;
    // Version 3 is committed once 300 posts of version 2 have gone out.
    const notifier = new RecordingNotifier(() => notifier.posts.length === 300 && (committed = 3));
    const first = await new FanOut({ connections: onePage, repo, notifier }).handle([stockRecord('hot', 2, 10, 1)]);
    // The read before the third chunk (after 500 posts) finds it.
    expect([first.delivered, first.superseded, reads.length]).toEqual([500, 500, 2]);
  });

  it('starts the next version where a superseded one stopped, so every subscriber is sent one in turn', async () => {
    let committed = 2;
    const { repo } = table(() => Promise.resolve(committed));
    const notifier = new RecordingNotifier(() => notifier.posts.length === 300 && (committed = 3));
    const fanOut = new FanOut({ connections: pagedStore(), repo, notifier });
    // Version 2 reaches the first 500 (two pages), then version 3 is found in the table.
    expect((await fanOut.handle([stockRecord('hot', 2, 10, 1)])).delivered).toBe(500);
    notifier.posts.length = 0;
    const second = await fanOut.handle([stockRecord('hot', 3, 9, 2)]);
    expect([second.delivered, second.superseded]).toEqual([MANY.length, 0]);
    // Those version 2 left out first, then round to the others.
    const order = notifier.posts.map((p) => p.connectionId);
    expect(order.slice(0, 500)).toEqual(MANY.slice(500));
    expect(order.slice(500)).toEqual(MANY.slice(0, 500));
    // Done in full: the next version starts at the first subscriber again.
    notifier.posts.length = 0;
    await fanOut.handle([stockRecord('hot', 4, 8, 3)]);
    expect(notifier.posts[0]?.connectionId).toBe(MANY[0]);
  });

  it('sends to every subscriber when the table holds the version being sent, reading it between pages only', async () => {
    const { repo, reads } = table(() => Promise.resolve(2));
    const notifier = new RecordingNotifier();
    const report = await new FanOut({ connections: pagedStore(), repo, notifier }).handle([stockRecord('hot', 2, 10, 1)]);
    expect(report.delivered).toBe(MANY.length);
    expect(report.superseded).toBe(0);
    for (const connectionId of MANY) expect(versionsPosted(notifier, connectionId, 'hot')).toEqual([2]);
    // Before pages 2, 3 and 4: none before the first.
    expect(reads).toHaveLength(3);
  });

  it('leaves out the throttled of the earlier pages too once superseded, rather than failing the batch for them', async () => {
    let committed = 2;
    const { repo } = table(() => Promise.resolve(committed));
    // The first page's first subscriber is throttled on every attempt.
    class Throttling extends RecordingNotifier {
      override attempt(connectionId: string, message: ServerMessage): Promise<AttemptResult> {
        return connectionId === MANY[0] ? Promise.resolve('throttled') : super.attempt(connectionId, message);
      }
    }
    const notifier = new Throttling();
    const fanOut = new FanOut({
      connections: pagedStore((page) => page === 1 && (committed = 3)),
      repo,
      notifier,
      pacer: new Pacer({ sleep: () => Promise.resolve() }),
    });
    const first = await fanOut.handle([stockRecord('hot', 2, 10, 1)]);
    expect(first.batchItemFailures).toEqual([]);
    expect(first.delivered).toBe(PAGE - 1);
    expect(first.superseded).toBe(MANY.length - PAGE + 1);

    // The latest version is never left out: still throttled, its change fails, for Lambda to retry.
    const second = await fanOut.handle([stockRecord('hot', 3, 9, 2)]);
    expect(second.delivered).toBe(MANY.length - 1);
    expect(second.batchItemFailures).toEqual([{ itemIdentifier: String(2).padStart(21, '0') }]);
  });

  it('goes on when the version cannot be read', async () => {
    const { repo, reads } = table(() => Promise.reject(new Error('ProvisionedThroughputExceededException')));
    const notifier = new RecordingNotifier();
    const report = await new FanOut({ connections: pagedStore(), repo, notifier }).handle([stockRecord('hot', 2, 10, 1)]);
    expect(report.batchItemFailures).toEqual([]);
    expect(report.delivered).toBe(MANY.length);
    expect(report.superseded).toBe(0);
    for (const connectionId of MANY) expect(versionsPosted(notifier, connectionId, 'hot')).toEqual([2]);
    expect(reads).toHaveLength(3);
  });
});
