/** The key-heat analysis (bench/lib/key-heat.ts) on hand-made records: units by DynamoDB's rules, per key, and the projections. */
import {
  analyzeKeyHeat,
  itemBytes,
  requestUnits,
  type ImageSummary,
  type RecordedRequest,
  type TouchedItem,
} from '../../bench/lib/key-heat';

const image = (sizeBytes: number, indexes: ImageSummary['indexes'] = [], version?: number): ImageSummary => ({
  sizeBytes,
  indexes,
  ...(version === undefined ? {} : { version }),
});

function request(operation: string, items: TouchedItem[], extra: Partial<RecordedRequest> = {}): RecordedRequest {
  return {
    at: 0,
    ms: 1,
    operation,
    transactional: operation.startsWith('Transact'),
    consistentRead: false,
    ok: true,
    status: 200,
    items,
    ...extra,
  };
}

describe('item sizes', () => {
  it('adds attribute names and values by DynamoDB rules', () => {
    // "pk" 2 + "T#a" 3; "n" 1 + 12345 (5 digits: 3 + 1); "b" 1 + true 1; "l" 1 + list 3 + (1 + "xy" 2)
    expect(itemBytes({ pk: { S: 'T#a' }, n: { N: '12345' }, b: { BOOL: true }, l: { L: [{ S: 'xy' }] } })).toBe(5 + 5 + 2 + 1 + 3 + 3);
  });
});

describe('requestUnits', () => {
  it('counts a transactional write at twice its size-based units, per item, and a ConditionCheck as a write', () => {
    const units = requestUnits(
      request('TransactWriteItems', [
        { table: 'Shop', pk: 'T#a', sk: 'S#p', action: 'Update', before: image(150), after: image(160) },
        { table: 'Shop', pk: 'T#a', sk: 'O#1', action: 'Put', before: null, after: image(1500) },
        { table: 'Shop', pk: 'T#a', sk: 'P#p', action: 'ConditionCheck', before: image(600), after: image(600) },
      ]),
    );
    expect(units).toEqual([
      { table: 'Shop', pk: 'T#a', sk: 'S#p', kind: 'write', units: 2 },
      { table: 'Shop', pk: 'T#a', sk: 'O#1', kind: 'write', units: 4 },
      { table: 'Shop', pk: 'T#a', sk: 'P#p', kind: 'write', units: 2 },
    ]);
  });

  it('charges the larger image, and index writes on the index partition key they land on', () => {
    const before = image(2100, [
      { index: 'gsi1', pk: 'T#a#C#tea', sk: 'P#p' },
      { index: 'gsi2', pk: 'MARKETPLACE', sk: 'a#p' },
    ]);
    const after = image(900, [
      { index: 'gsi1', pk: 'T#a#C#coffee', sk: 'P#p' },
      { index: 'gsi2', pk: 'MARKETPLACE', sk: 'a#p' },
    ]);
    const units = requestUnits(request('UpdateItem', [{ table: 'Shop', pk: 'T#a', sk: 'P#p', action: 'Update', before, after }]));
    expect(units).toEqual([
      { table: 'Shop', pk: 'T#a', sk: 'P#p', kind: 'write', units: 3 },
      // The category changed: a delete on the old key (2.1 KB) and a put on the new one (0.9 KB).
      { table: 'Shop', index: 'gsi1', pk: 'T#a#C#tea', kind: 'write', units: 3 },
      { table: 'Shop', index: 'gsi1', pk: 'T#a#C#coffee', kind: 'write', units: 1 },
      // Same index key: one write of the larger image.
      { table: 'Shop', index: 'gsi2', pk: 'MARKETPLACE', kind: 'write', units: 3 },
    ]);
  });

  it("counts a transactional write's index writes at the standard rate unless told otherwise", () => {
    const put = request('TransactWriteItems', [
      {
        table: 'Shop',
        pk: 'T#a',
        sk: 'P#p',
        action: 'Put',
        before: null,
        after: image(500, [{ index: 'gsi2', pk: 'MARKETPLACE', sk: 'a#p' }]),
      },
    ]);
    expect(requestUnits(put).map((u) => u.units)).toEqual([2, 1]);
    expect(requestUnits(put, { transactionalIndexFactor: 2 }).map((u) => u.units)).toEqual([2, 2]);
  });

  it('reads: 4 KB steps, eventually consistent half, a missing item as an empty one; a Query as reported', () => {
    const get = (consistentRead: boolean, size: number | null) =>
      requestUnits(
        request('GetItem', [{ table: 'Shop', pk: 'T#a', sk: 'P#p', action: 'Get', after: size === null ? null : image(size) }], {
          consistentRead,
        }),
      )[0]?.units;
    expect(get(true, 4097)).toBe(2);
    expect(get(false, 4097)).toBe(1);
    expect(get(false, null)).toBe(0.5);
    const tx = requestUnits(request('TransactGetItems', [{ table: 'Shop', pk: 'T#a', sk: 'P#p', action: 'Get', after: image(100) }]));
    expect(tx[0]?.units).toBe(2);
    const query = requestUnits(request('Query', [], { range: { table: 'Shop', index: 'gsi2', pk: 'MARKETPLACE', units: 1.5, items: 20 } }));
    expect(query).toEqual([{ table: 'Shop', index: 'gsi2', pk: 'MARKETPLACE', kind: 'read', units: 1.5 }]);
  });
});

describe('analyzeKeyHeat', () => {
  const order = (n: number): RecordedRequest =>
    request(
      'TransactWriteItems',
      [
        { table: 'Shop', pk: 'T#a', sk: 'P#hot', action: 'ConditionCheck', before: image(500), after: image(500) },
        { table: 'Shop', pk: 'T#a', sk: 'S#hot', action: 'Update', before: image(150), after: image(150) },
        { table: 'Shop', pk: 'T#a', sk: `O#${n}`, action: 'Put', before: null, after: image(400) },
        { table: 'Shop', pk: 'T#a', sk: 'M#2026-12-01', action: 'Update', before: image(100), after: image(100) },
      ],
      { at: n * 10 },
    );

  it('totals units per partition key and per item, and projects the rate at the limit', () => {
    const requests = [order(1), order(2), order(3), order(4), { ...order(5), ok: false, errorType: 'TransactionCanceledException' }];
    const analysis = analyzeKeyHeat({
      requests,
      seconds: 2,
      projections: [
        { label: 'tenant, per item', events: 4, keys: (u) => u.pk === 'T#a', per: 'item' },
        { label: 'tenant, per partition', events: 4, keys: (u) => u.pk === 'T#a', per: 'partition' },
      ],
    });
    expect(analysis.totalWcu).toBe(32);
    expect(analysis.failed).toEqual({ 'TransactWriteItems TransactionCanceledException': 1 });
    expect(analysis.partitions[0]).toMatchObject({ pk: 'T#a', wcu: 32, writes: 4 });
    expect(analysis.items.slice(0, 3).map((i) => [i.sk, i.wcu])).toEqual([
      ['P#hot', 8],
      ['S#hot', 8],
      ['M#2026-12-01', 8],
    ]);
    // 2 WCU per order on the busiest item: 500 orders/s; 8 on the partition key: 125.
    expect(analysis.projections[0]?.eventsPerSecondAtWriteLimit).toBe(500);
    expect(analysis.projections[1]?.eventsPerSecondAtWriteLimit).toBe(125);
  });

  it('compares the computed units with those the endpoint reported', () => {
    const reported = { table: 4, indexes: {}, total: 4 };
    const put = request('PutItem', [{ table: 'Shop', pk: 'T#a', sk: 'P#p', action: 'Put', before: image(3000), after: image(3500) }], {
      reported,
    });
    const analysis = analyzeKeyHeat({ requests: [put, { ...put, reported: { ...reported, total: 8 } }] });
    expect(analysis.comparison).toEqual([
      { operation: 'PutItem', transactional: false, requests: 2, computed: 8, reported: 12, agreeing: 1 },
    ]);
  });
});
