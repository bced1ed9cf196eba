/**
 * Key heat of today's data model in a flash sale: the repository (functions/catalog/dynamodb, what
 * the API's functions call) against DynamoDB Local behind a recorder of every request
 * (../lib/dynamodb-recorder.ts). One tenant places 2,000 orders on one hot product and 200 on
 * others from 50 concurrent clients, while 100 other tenants trade normally: a few orders, stock
 * adjustments, listed product creates and updates, their product list and the marketplace.
 * ../lib/key-heat.ts turns the records into units per partition key and per item, and into the
 * rates at which the busiest key would reach DynamoDB's per-key limits.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../../functions/shared/errors';
import { SHOP_TABLE, CONNECTIONS_TABLE, shopKeys } from '../../functions/shared/tables';
import { startDynamoDbRecorder } from '../lib/dynamodb-recorder';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { productInput } from '../lib/fixtures';
import {
  analyzeKeyHeat,
  keyLabel,
  PARTITION_RCU_PER_S,
  PARTITION_WCU_PER_S,
  type KeyHeatAnalysis,
  type KeyUnits,
  type RecordedRequest,
} from '../lib/key-heat';
import type { BenchCase, CaseResult, Table } from '../lib/report';
import { fmtInt } from '../lib/stats';

const HOT_TENANT = 'flash-tenant';
const HOT_PRODUCT = 'hot';
const VARIANT = "today's model";

interface Sizes {
  hotOrders: number;
  otherOrders: number;
  clients: number;
  tenants: number;
  tenantWorkers: number;
  hotTenantProducts: number;
  productsPerTenant: number;
}

interface Counts {
  hotOrders: number;
  otherHotTenantOrders: number;
  hotOrderRetries: number;
  hotOrderFailures: number;
  tenantOrders: number;
  tenantOrderFailures: number;
  stockAdjustments: number;
  listedProductWrites: number;
  productLists: number;
  marketplaceLists: number;
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function pool<T>(jobs: readonly T[], workers: number, run: (job: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, jobs.length) }, async () => {
      while (next < jobs.length) await run(jobs[next++] as T);
    }),
  );
}

/** An order as a shop's client places it: retried (a few times) when the API answers 409 "retry". */
async function placeOrder(repo: DynamoShopRepository, tenant: string, productId: string, counts: { retries: number }): Promise<boolean> {
  for (let attempt = 1; attempt <= 10; attempt++) {
    try {
      await repo.createOrder(tenant, 'buyer', randomUUID(), [{ productId, quantity: 1 }]);
      return true;
    } catch (error) {
      if (!(error instanceof ConflictError) || !/retry/.test(error.message)) throw error;
      counts.retries++;
    }
  }
  return false;
}

export const keyHeat: BenchCase = {
  id: 'key-heat',
  title: 'Key heat: DynamoDB units per key in a flash sale',
  description:
    "The repository the functions use (`DynamoShopRepository`, today's model) against DynamoDB Local behind a proxy that records every request and the items it touched. " +
    'One tenant places 2,000 orders on one hot product and 200 on others (50 concurrent clients, one line of quantity 1 each); meanwhile 100 other tenants each place 3 orders, adjust stock twice, create a listed product and update two, list their products twice and the marketplace twice. ' +
    "Units are computed from item sizes by DynamoDB's rules (bench/lib/key-heat.ts), checked against what DynamoDB Local reports; the projections divide the per-key limits (1,000 WCU/s, 3,000 RCU/s) by the busiest key's units per event. " +
    'Reads go straight to DynamoDB (no cache in front, as the API has): they are an upper bound.',
  async run(ctx): Promise<CaseResult> {
    const sizes: Sizes = ctx.quick
      ? { hotOrders: 200, otherOrders: 20, clients: 50, tenants: 10, tenantWorkers: 10, hotTenantProducts: 10, productsPerTenant: 3 }
      : { hotOrders: 2000, otherOrders: 200, clients: 50, tenants: 100, tenantWorkers: 25, hotTenantProducts: 20, productsPerTenant: 5 };
    const tables = await ctx.dynamo.tables('key-heat');
    const definitions = new Map([
      [tables.shop, SHOP_TABLE],
      [tables.connections, CONNECTIONS_TABLE],
    ]);
    const recorder = await startDynamoDbRecorder({ upstream: ctx.dynamo.endpoint, definition: (t) => definitions.get(t) });
    // The functions' client and repository; timeouts for a proxy sharing this process's event loop
    // with 75 concurrent callers on a possibly loaded machine (the 500 ms connect default is for DynamoDB).
    const repo = new DynamoShopRepository(
      createDocumentClient({ endpoint: recorder.url, timeoutMs: 20_000, connectTimeoutMs: 10_000 }),
      tables.shop,
    );
    const tenants = Array.from({ length: sizes.tenants }, (_, i) => `tenant-${String(i).padStart(3, '0')}`);
    const counts: Counts = {
      hotOrders: 0,
      otherHotTenantOrders: 0,
      hotOrderRetries: 0,
      hotOrderFailures: 0,
      tenantOrders: 0,
      tenantOrderFailures: 0,
      stockAdjustments: 0,
      listedProductWrites: 0,
      productLists: 0,
      marketplaceLists: 0,
    };
    let seconds = 0;
    let records: readonly RecordedRequest[] = [];
    try {
      // Seeding, not recorded.
      ctx.log(`seeding ${sizes.hotTenantProducts} products of the hot tenant and ${sizes.tenants} tenants x ${sizes.productsPerTenant}`);
      await repo.createProduct(HOT_TENANT, productInput(HOT_PRODUCT), 5);
      await repo.adjustStock(HOT_TENANT, HOT_PRODUCT, sizes.hotOrders + 100);
      const hotOthers = Array.from({ length: sizes.hotTenantProducts }, (_, i) => `p${i}`);
      for (const id of hotOthers) {
        await repo.createProduct(HOT_TENANT, productInput(id), 5);
        await repo.adjustStock(HOT_TENANT, id, sizes.otherOrders);
      }
      await pool(tenants, sizes.tenantWorkers, async (tenant) => {
        for (let i = 0; i < sizes.productsPerTenant; i++) {
          await repo.createProduct(tenant, productInput(`p${i}`), 5);
          await repo.adjustStock(tenant, `p${i}`, 100);
        }
      });
      await recorder.settled();
      recorder.clear();

      ctx.log(
        `flash sale: ${sizes.hotOrders} + ${sizes.otherOrders} orders from ${sizes.clients} clients, ${sizes.tenants} tenants trading`,
      );
      const jobs = [
        ...Array.from({ length: sizes.hotOrders }, () => HOT_PRODUCT),
        ...Array.from({ length: sizes.otherOrders }, (_, i) => hotOthers[i % hotOthers.length] as string),
      ];
      // Spread the other products' orders through the sale (a fixed interleaving, not random).
      const step = Math.max(1, Math.floor(jobs.length / Math.max(1, sizes.otherOrders)));
      const ordered = jobs.slice(0, sizes.hotOrders);
      jobs.slice(sizes.hotOrders).forEach((p, i) => ordered.splice(Math.min(ordered.length, (i + 1) * step), 0, p));
      const retry = { retries: 0 };
      const started = performance.now();
      const sale = pool(ordered, sizes.clients, async (productId) => {
        const placed = await placeOrder(repo, HOT_TENANT, productId, retry);
        if (!placed) counts.hotOrderFailures++;
        else if (productId === HOT_PRODUCT) counts.hotOrders++;
        else counts.otherHotTenantOrders++;
      });
      const trading = pool(tenants, sizes.tenantWorkers, async (tenant) => {
        const others = { retries: 0 };
        const product = (i: number) => `p${i % sizes.productsPerTenant}`;
        for (let round = 0; round < 2; round++) {
          await repo.listProducts(tenant, { limit: 20 });
          counts.productLists++;
          await repo.listMarketplace({ limit: 20 });
          counts.marketplaceLists++;
          if (await placeOrder(repo, tenant, product(round), others)) counts.tenantOrders++;
          else counts.tenantOrderFailures++;
          await repo.adjustStock(tenant, product(round + 1), 5);
          counts.stockAdjustments++;
          await repo.updateProduct(tenant, product(round + 2), { price: 2500 + round });
          counts.listedProductWrites++;
        }
        if (await placeOrder(repo, tenant, product(0), others)) counts.tenantOrders++;
        else counts.tenantOrderFailures++;
        await repo.createProduct(tenant, productInput(`new-${tenant}`), 5);
        counts.listedProductWrites++;
      });
      await Promise.all([sale, trading]);
      seconds = (performance.now() - started) / 1000;
      counts.hotOrderRetries = retry.retries;
      await recorder.settled();
      records = [...recorder.records()];
    } finally {
      await recorder.close();
    }

    const hotPk = shopKeys.tenant(HOT_TENANT);
    const hotOrderCount = counts.hotOrders + counts.otherHotTenantOrders;
    const isItem = (sk: string) => (u: KeyUnits) => u.pk === hotPk && u.sk === sk;
    const analysis = analyzeKeyHeat({
      requests: records,
      seconds,
      projections: [
        {
          label: 'orders/s one tenant sustains before any single item passes 1,000 WCU/s',
          events: hotOrderCount,
          keys: (u) => u.pk === hotPk && u.index === undefined,
          per: 'item',
        },
        {
          label: "orders/s one tenant sustains before its partition key passes 1,000 WCU/s (if DynamoDB does not split the tenant's items)",
          events: hotOrderCount,
          keys: (u) => u.pk === hotPk && u.index === undefined,
          per: 'partition',
        },
        {
          label: 'orders/s one hot product sustains before its stock item passes 1,000 WCU/s',
          events: counts.hotOrders,
          keys: isItem(shopKeys.stock(HOT_PRODUCT)),
          per: 'item',
        },
        {
          label: "orders/s one hot product sustains before its product item (each order's ConditionCheck) passes 1,000 WCU/s",
          events: counts.hotOrders,
          keys: isItem(shopKeys.product(HOT_PRODUCT)),
          per: 'item',
        },
        {
          label: 'marketplace product writes/s before the busiest index key passes 1,000 WCU/s',
          events: counts.listedProductWrites,
          keys: (u) => u.index !== undefined && u.kind === 'write',
          per: 'partition',
        },
      ],
    });
    // The same with a transactional write's index writes at twice the rate.
    const doubledIndex = analyzeKeyHeat({
      requests: records,
      seconds,
      options: { transactionalIndexFactor: 2 },
      projections: [
        {
          label: 'marketplace',
          events: counts.listedProductWrites,
          keys: (u) => u.index !== undefined && u.kind === 'write',
          per: 'partition',
        },
      ],
    });
    const orderUnits = perOrder(records, tables.shop);
    const alias = (t: string) => (t === tables.shop ? 'Shop' : t === tables.connections ? 'Connections' : t);
    const projectionRows = analysis.projections.map((p) => [
      p.label,
      fmt(p.eventsPerSecondAtWriteLimit),
      p.busiest ? `${p.busiest.key.replace(tables.shop, 'Shop')}: ${fmt(p.busiest.wcuPerEvent, 2)} WCU per event` : '-',
    ]);
    const drivenOrdersPerSecond = hotOrderCount / seconds;
    const headlineTable: Table = {
      title: 'Projected limits (DynamoDB: 1,000 WCU/s and 3,000 RCU/s per partition, so per item and per index partition key)',
      columns: ['figure', VARIANT, 'busiest key'],
      rows: [
        ...projectionRows,
        [
          "write units per order (mean over the hot tenant's orders)",
          fmt(orderUnits.wcuPerOrder, 2),
          `${fmtInt(orderUnits.orders)} orders; read units per order ${fmt(orderUnits.rcuPerOrder, 2)}`,
        ],
        [
          'driven rate in this run: orders/s of the hot tenant',
          fmt(drivenOrdersPerSecond, 1),
          `${fmt(seconds, 1)} s for ${fmtInt(hotOrderCount)} orders, ${fmtInt(counts.hotOrderRetries)} retried after a transaction conflict`,
        ],
      ],
      notes: [
        `With a transactional write's index writes counted twice (not known from DynamoDB's documentation), the marketplace figure would be ${fmt(doubledIndex.projections[0]?.eventsPerSecondAtWriteLimit)} writes/s.`,
        "The projection: the limit divided by the busiest key's units per event in this run; it holds as long as the mix is the same (every order one line of quantity 1).",
      ],
    };
    const partitionTable: Table = {
      title: 'Top 10 partition keys by write units (table and index partition keys), at the driven rate',
      columns: [
        'table / index',
        'partition key',
        'WCU',
        'RCU',
        'WCU/s',
        'RCU/s',
        'share of 1,000 WCU/s',
        'share of 3,000 RCU/s',
        'requests writing / reading',
      ],
      rows: analysis.partitions
        .slice(0, 10)
        .map((p) => [
          `${alias(p.table)}${p.index ? `.${p.index}` : ''}`,
          p.pk,
          fmt(p.wcu),
          fmt(p.rcu, 1),
          fmt(p.wcu / seconds, 1),
          fmt(p.rcu / seconds, 1),
          `${fmt((100 * p.wcu) / seconds / PARTITION_WCU_PER_S, 1)} %`,
          `${fmt((100 * p.rcu) / seconds / PARTITION_RCU_PER_S, 1)} %`,
          `${fmtInt(p.writes)} / ${fmtInt(p.reads)}`,
        ]),
      notes: [
        `${fmtInt(analysis.partitions.length)} partition keys in all; ${fmt(analysis.totalWcu)} WCU and ${fmt(analysis.totalRcu, 1)} RCU over ${fmt(seconds, 1)} s.`,
      ],
    };
    const itemTable: Table = {
      title: 'Top 10 items by write units, at the driven rate',
      columns: ['partition key', 'sort key', 'WCU', 'RCU', 'WCU/s', 'share of 1,000 WCU/s', 'requests writing / reading'],
      rows: analysis.items
        .slice(0, 10)
        .map((t) => [
          t.pk,
          t.sk ?? '',
          fmt(t.wcu),
          fmt(t.rcu, 1),
          fmt(t.wcu / seconds, 1),
          `${fmt((100 * t.wcu) / seconds / PARTITION_WCU_PER_S, 1)} %`,
          `${fmtInt(t.writes)} / ${fmtInt(t.reads)}`,
        ]),
    };
    const comparisonTable: Table = {
      title: "Units computed from item sizes vs DynamoDB Local's ConsumedCapacity",
      columns: ['operation', 'transactional', 'requests', 'computed units', 'DynamoDB Local units', 'requests agreeing'],
      rows: analysis.comparison.map((c) => [
        c.operation,
        c.transactional ? 'yes' : 'no',
        fmtInt(c.requests),
        fmt(c.computed, 1),
        fmt(c.reported, 1),
        fmtInt(c.agreeing),
      ]),
      notes: [
        "DynamoDB Local (the jar of amplify-dynamodb-simulator) follows DynamoDB's rules for non-transactional writes (per-index writes, delete + put on a changed index key, the larger of the two images), reads, batches, Query and TransactGetItems (2x): those rows agree request by request. " +
          'Its TransactWriteItems units are not per item: 4x the size-based units of a lone item (not 2x), and for several items about 4x of their summed size (a small Put and a small Update: 4 in all, not 2 + 2 each doubled), a ConditionCheck nothing; it reports no units for a failed request. ' +
          'So every transactional write is counted here from item sizes (2x per item, a ConditionCheck as a transactional write of the checked item, as DynamoDB bills it by a public measurement: 2 WCU for a small item); a Query keeps the units DynamoDB Local reports.',
        `Images: ${fmtInt(recorder.images.readBefore)} items read before their first recorded write, ${fmtInt(recorder.images.readAfter)} read after an update; ${fmtInt(recorder.images.raced)} updates saw another write's image (versions apart by more than one: writes to one item in flight together), which can move that write's size by a few bytes, not its index keys (the hot items, stock and day figures, carry none).`,
        `Recorder errors (requests answered 500 or not recorded): ${fmtInt(recorder.errors.count)}${recorder.errors.last ? ` (last: ${recorder.errors.last})` : ''}. ` +
          `Failed requests (not counted in the units): ${
            Object.entries(analysis.failed)
              .map(([k, v]) => `${k}: ${fmtInt(v)}`)
              .join(', ') || 'none'
          }.`,
      ],
    };
    return {
      headline: [
        `Today's model: one tenant sustains about ${fmt(analysis.projections[0]?.eventsPerSecondAtWriteLimit)} orders/s before its busiest item (${analysis.projections[0]?.busiest?.key.replace(tables.shop, 'Shop') ?? '-'}) passes 1,000 WCU/s; ${fmt(analysis.projections[1]?.eventsPerSecondAtWriteLimit)} orders/s if its partition key is not split; a hot product ${fmt(analysis.projections[2]?.eventsPerSecondAtWriteLimit)} orders/s (its stock item; its product item, checked by every order: ${fmt(analysis.projections[3]?.eventsPerSecondAtWriteLimit)}); the marketplace ${fmt(analysis.projections[4]?.eventsPerSecondAtWriteLimit)} listed product writes/s.`,
      ],
      tables: [headlineTable, partitionTable, itemTable, comparisonTable],
      floors: [],
      data: {
        variant: VARIANT,
        sizes,
        counts,
        seconds,
        requests: analysis.requests,
        failed: analysis.failed,
        totalWcu: analysis.totalWcu,
        totalRcu: analysis.totalRcu,
        wcuPerOrder: orderUnits.wcuPerOrder,
        rcuPerOrder: orderUnits.rcuPerOrder,
        projections: analysis.projections,
        marketplaceWithTransactionalIndexWritesDoubled: doubledIndex.projections[0],
        partitions: analysis.partitions.slice(0, 25).map((p) => ({ key: keyLabel(p, alias), ...p, table: alias(p.table) })),
        items: analysis.items.slice(0, 25).map((t) => ({ key: keyLabel(t, alias), ...t, table: alias(t.table) })),
        comparison: analysis.comparison,
        images: { ...recorder.images },
        recorderErrors: { ...recorder.errors },
      } satisfies Record<string, unknown> & { projections: KeyHeatAnalysis['projections'] },
    };
  },
};

/** Units of the hot tenant's order transactions (every request that puts an order item on its partition). */
function perOrder(records: readonly RecordedRequest[], shopTable: string): { orders: number; wcuPerOrder: number; rcuPerOrder: number } {
  const hotPk = shopKeys.tenant(HOT_TENANT);
  const orders = records.filter(
    (r) =>
      r.ok &&
      r.operation === 'TransactWriteItems' &&
      r.items.some((i) => i.table === shopTable && i.pk === hotPk && i.action === 'Put' && i.sk?.startsWith('O#')),
  );
  const reads = records.filter((r) => r.ok && r.operation === 'BatchGetItem' && r.items.some((i) => i.pk === hotPk));
  const analysis = analyzeKeyHeat({ requests: [...orders, ...reads] });
  return {
    orders: orders.length,
    wcuPerOrder: analysis.totalWcu / Math.max(1, orders.length),
    rcuPerOrder: analysis.totalRcu / Math.max(1, orders.length),
  };
}
