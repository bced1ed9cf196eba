/**
 * Key heat: the DynamoDB capacity units a run spent, per partition key and per item, from the
 * requests a recorder saw at the endpoint (./dynamodb-recorder.ts), and the rates at which the
 * busiest key would reach DynamoDB's per-key limits. Pure functions over the records, so
 * variants of the data model can be compared side by side on the same scenario.
 *
 * The units follow DynamoDB's rules, computed here from item sizes:
 * - a write: ceil(size / 1 KB) WCU, size the larger of the item before and after (a delete: before);
 * - a strongly consistent read: ceil(size / 4 KB) RCU, eventually consistent half of it;
 *   a read of a missing item costs as an empty one;
 * - transactional: twice that (TransactWriteItems, TransactGetItems); a ConditionCheck in a
 *   TransactWriteItems is billed as a transactional write of the checked item;
 * - a global secondary index write per index the item is (or was) in: in place one write of
 *   the larger image (none when the item is written unchanged), a changed index key a delete on the old key and a put on the new one. Index
 *   writes are counted at the standard rate, also for a transactional write (the index is kept
 *   asynchronously, outside the transaction; `transactionalIndexFactor` says otherwise);
 * - a Query: the units the endpoint reported (the sizes of the items read, filter or not, in
 *   4 KB steps), on the partition key it read.
 * Failed requests are counted apart (DynamoDB bills a failed conditional write too; not included).
 */

/** An attribute value in DynamoDB JSON ({"S": "..."}, {"N": "1"}, {"M": {...}}; B as base64 or bytes). */
export type AttributeValue = Readonly<Record<string, unknown>>;
export type Item = Readonly<Record<string, AttributeValue>>;

export const WRITE_UNIT_BYTES = 1024;
export const READ_UNIT_BYTES = 4096;
/** DynamoDB's throughput limits of one partition (so of one partition key's item collection unless split, and of one item). */
export const PARTITION_WCU_PER_S = 1000;
export const PARTITION_RCU_PER_S = 3000;

function utf8(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Bytes of a number as DynamoDB stores it: about one byte per two significant digits, plus one. */
function numberBytes(n: string): number {
  const digits = n.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function binaryBytes(b: unknown): number {
  if (typeof b === 'string') return Buffer.from(b, 'base64').length;
  if (b instanceof Uint8Array) return b.length;
  return 0;
}

/** The size of one attribute value (its name not included), by DynamoDB's item size rules. */
export function valueBytes(value: AttributeValue): number {
  if (typeof value.S === 'string') return utf8(value.S);
  if (typeof value.N === 'string') return numberBytes(value.N);
  if (value.B !== undefined) return binaryBytes(value.B);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (Array.isArray(value.SS)) return (value.SS as string[]).reduce((sum, s) => sum + utf8(s), 0);
  if (Array.isArray(value.NS)) return (value.NS as string[]).reduce((sum, s) => sum + numberBytes(s), 0);
  if (Array.isArray(value.BS)) return (value.BS as unknown[]).reduce<number>((sum, b) => sum + binaryBytes(b), 0);
  if (Array.isArray(value.L)) return 3 + (value.L as AttributeValue[]).reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (typeof value.M === 'object' && value.M !== null)
    return 3 + Object.entries(value.M as Item).reduce((sum, [name, v]) => sum + 1 + utf8(name) + valueBytes(v), 0);
  return 0;
}

/** An item's size: the UTF-8 length of each attribute name plus its value's size. */
export function itemBytes(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + valueBytes(value);
  return size;
}

export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES));
}

export function readUnits(bytes: number, consistent: boolean): number {
  return Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);
}

/** Where an item sits in one index (its index key values). */
export interface IndexEntry {
  readonly index: string;
  readonly pk: string;
  readonly sk?: string;
}

/** What the analysis needs of an item image. */
export interface ImageSummary {
  readonly sizeBytes: number;
  /** The indexes the item is in (it has the index's key attributes). */
  readonly indexes: readonly IndexEntry[];
  /** The item's numeric `version` attribute when it has one (to spot images of another write). */
  readonly version?: number;
  /** A digest of the whole item: an unchanged item writes no index entry. */
  readonly digest?: string;
}

export type ItemAction = 'Put' | 'Update' | 'Delete' | 'ConditionCheck' | 'Get';

export interface TouchedItem {
  readonly table: string;
  readonly pk: string;
  readonly sk?: string;
  readonly action: ItemAction;
  /** null: no such item; undefined: not known. Reads carry the item read as `after`. */
  readonly before?: ImageSummary | null;
  readonly after?: ImageSummary | null;
}

/** A Query or Scan: the partition it read and the units the endpoint reported for it. */
export interface RangeRead {
  readonly table: string;
  readonly index?: string;
  /** The partition key value read ('*' for a Scan). */
  readonly pk: string;
  readonly units: number;
  readonly items: number;
}

/** ConsumedCapacity as the endpoint reported it (CapacityUnits summed over tables), when it did. */
export interface ReportedCapacity {
  readonly table: number;
  readonly indexes: Readonly<Record<string, number>>;
  readonly total: number;
}

export interface RecordedRequest {
  /** epoch ms at arrival */
  readonly at: number;
  readonly ms: number;
  /** PutItem, UpdateItem, TransactWriteItems, Query... */
  readonly operation: string;
  readonly transactional: boolean;
  readonly consistentRead: boolean;
  readonly ok: boolean;
  readonly status: number;
  readonly errorType?: string;
  readonly items: readonly TouchedItem[];
  readonly range?: RangeRead;
  readonly reported?: ReportedCapacity;
  /** What the caller asked ReturnConsumedCapacity to be (the recorder asks INDEXES itself). */
  readonly clientAsked?: string;
}

/** Units one request spent on one key: an item (sk set) or an index / range read (sk undefined). */
export interface KeyUnits {
  readonly table: string;
  /** Set for index writes and index reads. */
  readonly index?: string;
  readonly pk: string;
  readonly sk?: string;
  readonly kind: 'write' | 'read';
  readonly units: number;
}

export interface UnitOptions {
  /** Multiplier of a transactional write's index writes. @default 1 */
  readonly transactionalIndexFactor?: number;
}

function sizeOf(image: ImageSummary | null | undefined): number {
  return image?.sizeBytes ?? 0;
}

/** The units one request spent, per key it touched. */
export function requestUnits(request: RecordedRequest, options: UnitOptions = {}): KeyUnits[] {
  const out: KeyUnits[] = [];
  const factor = request.transactional ? 2 : 1;
  const indexFactor = request.transactional ? (options.transactionalIndexFactor ?? 1) : 1;
  for (const item of request.items) {
    const at = { table: item.table, pk: item.pk, ...(item.sk === undefined ? {} : { sk: item.sk }) };
    if (item.action === 'Get') {
      const consistent = request.transactional || request.consistentRead;
      out.push({ ...at, kind: 'read', units: readUnits(sizeOf(item.after), consistent) * factor });
      continue;
    }
    const bytes =
      item.action === 'Delete' || item.action === 'ConditionCheck'
        ? sizeOf(item.before)
        : Math.max(sizeOf(item.before), sizeOf(item.after));
    out.push({ ...at, kind: 'write', units: writeUnits(bytes) * factor });
    if (item.action === 'ConditionCheck') continue;
    const after = item.action === 'Delete' ? null : item.after;
    const names = new Set([...(item.before?.indexes ?? []), ...(after?.indexes ?? [])].map((e) => e.index));
    for (const index of names) {
      const old = item.before?.indexes.find((e) => e.index === index);
      const now = after?.indexes.find((e) => e.index === index);
      const write = (entry: IndexEntry, size: number): void => {
        out.push({ table: item.table, index, pk: entry.pk, kind: 'write', units: writeUnits(size) * indexFactor });
      };
      if (old && now && old.pk === now.pk && old.sk === now.sk) {
        // Written again unchanged: the index entry is not touched.
        const unchanged = item.before?.digest !== undefined && item.before.digest === after?.digest;
        if (!unchanged) write(now, Math.max(sizeOf(item.before), sizeOf(after)));
      } else {
        if (old) write(old, sizeOf(item.before));
        if (now) write(now, sizeOf(after));
      }
    }
  }
  if (request.range) {
    const r = request.range;
    out.push({ table: r.table, ...(r.index === undefined ? {} : { index: r.index }), pk: r.pk, kind: 'read', units: r.units });
  }
  return out;
}

export interface KeyTotals {
  readonly table: string;
  readonly index?: string;
  readonly pk: string;
  readonly sk?: string;
  wcu: number;
  rcu: number;
  /** Requests that wrote / read it. */
  writes: number;
  reads: number;
}

function totalsBy(units: readonly KeyUnits[][], key: (u: KeyUnits) => string, withSk: boolean): KeyTotals[] {
  const totals = new Map<string, KeyTotals>();
  for (const perRequest of units) {
    const seen = new Set<string>();
    for (const u of perRequest) {
      const id = key(u);
      let t = totals.get(id);
      if (!t) {
        t = {
          table: u.table,
          ...(u.index === undefined ? {} : { index: u.index }),
          pk: u.pk,
          ...(withSk && u.sk !== undefined ? { sk: u.sk } : {}),
          wcu: 0,
          rcu: 0,
          writes: 0,
          reads: 0,
        };
        totals.set(id, t);
      }
      if (u.kind === 'write') t.wcu += u.units;
      else t.rcu += u.units;
      const counted = `${id}\u0000${u.kind}`;
      if (!seen.has(counted)) {
        seen.add(counted);
        if (u.kind === 'write') t.writes++;
        else t.reads++;
      }
    }
  }
  return [...totals.values()].sort((a, b) => b.wcu - a.wcu || b.rcu - a.rcu);
}

/** A question of the form "at what rate of <events> does the busiest key among <keys> reach the limit". */
export interface Projection {
  readonly label: string;
  /** How many such events the scenario drove (orders of the hot tenant, listed product writes...). */
  readonly events: number;
  /** The keys the question is about. */
  readonly keys: (u: KeyUnits) => boolean;
  /** 'item': per item (table items; index writes per index partition key); 'partition': per partition key. */
  readonly per: 'item' | 'partition';
}

export interface ProjectionResult {
  readonly label: string;
  readonly events: number;
  /** The busiest key and what it spent per event. */
  readonly busiest?: { readonly key: string; readonly wcuPerEvent: number; readonly rcuPerEvent: number };
  /** Events per second at which that key reaches 1,000 WCU/s (and, apart, 3,000 RCU/s). */
  readonly eventsPerSecondAtWriteLimit?: number;
  readonly eventsPerSecondAtReadLimit?: number;
}

export function keyLabel(t: { table: string; index?: string; pk: string; sk?: string }, tableAlias?: (table: string) => string): string {
  const table = tableAlias ? tableAlias(t.table) : t.table;
  return `${table}${t.index ? `.${t.index}` : ''} ${t.pk}${t.sk === undefined ? '' : ` / ${t.sk}`}`;
}

export interface CapacityComparison {
  readonly operation: string;
  readonly transactional: boolean;
  readonly requests: number;
  /** Units computed here (requestUnits). */
  readonly computed: number;
  /** Units the endpoint reported. */
  readonly reported: number;
  /** Requests whose reported total equals the computed one. */
  readonly agreeing: number;
}

export interface KeyHeatAnalysis {
  readonly seconds: number;
  readonly requests: number;
  readonly failed: Readonly<Record<string, number>>;
  readonly totalWcu: number;
  readonly totalRcu: number;
  /** Per partition key (table or index), busiest writes first. */
  readonly partitions: readonly KeyTotals[];
  /** Per table item (pk + sk), busiest writes first. */
  readonly items: readonly KeyTotals[];
  readonly projections: readonly ProjectionResult[];
  readonly comparison: readonly CapacityComparison[];
}

export interface AnalysisInput {
  readonly requests: readonly RecordedRequest[];
  /** The driven window (units/s are over it); default: first arrival to last. */
  readonly seconds?: number;
  readonly projections?: readonly Projection[];
  readonly options?: UnitOptions;
}

export function analyzeKeyHeat(input: AnalysisInput): KeyHeatAnalysis {
  const ok = input.requests.filter((r) => r.ok);
  const failed: Record<string, number> = {};
  for (const r of input.requests)
    if (!r.ok) failed[`${r.operation} ${r.errorType ?? r.status}`] = (failed[`${r.operation} ${r.errorType ?? r.status}`] ?? 0) + 1;
  const units = ok.map((r) => requestUnits(r, input.options));
  const first = Math.min(...input.requests.map((r) => r.at));
  const last = Math.max(...input.requests.map((r) => r.at + r.ms));
  const seconds = input.seconds ?? (input.requests.length ? Math.max(0.001, (last - first) / 1000) : 0);
  const partitionId = (u: KeyUnits) => `${u.table}\u0000${u.index ?? ''}\u0000${u.pk}`;
  const itemId = (u: KeyUnits) => `${u.table}\u0000${u.index ?? ''}\u0000${u.pk}\u0000${u.sk ?? ''}`;
  const partitions = totalsBy(units, partitionId, false);
  const items = totalsBy(units, itemId, true).filter((t) => t.sk !== undefined);
  const flat = units.flat();
  const projections = (input.projections ?? []).map((p): ProjectionResult => {
    const selected = flat.filter(p.keys);
    // Per item: table items by pk + sk, index writes by index partition key (an index item is not a hot spot of its own).
    const totals = totalsBy([selected], p.per === 'item' ? itemId : partitionId, p.per === 'item');
    const busiestWrite = totals[0];
    const busiestRead = [...totals].sort((a, b) => b.rcu - a.rcu)[0];
    if (!busiestWrite || p.events === 0) return { label: p.label, events: p.events };
    const wcuPerEvent = busiestWrite.wcu / p.events;
    const rcuPerEvent = (busiestRead?.rcu ?? 0) / p.events;
    return {
      label: p.label,
      events: p.events,
      busiest: { key: keyLabel(busiestWrite), wcuPerEvent, rcuPerEvent: busiestWrite.rcu / p.events },
      ...(wcuPerEvent > 0 ? { eventsPerSecondAtWriteLimit: PARTITION_WCU_PER_S / wcuPerEvent } : {}),
      ...(rcuPerEvent > 0 ? { eventsPerSecondAtReadLimit: PARTITION_RCU_PER_S / rcuPerEvent } : {}),
    };
  });
  const comparison = new Map<
    string,
    { operation: string; transactional: boolean; requests: number; computed: number; reported: number; agreeing: number }
  >();
  ok.forEach((r, i) => {
    if (!r.reported) return;
    const computed = (units[i] as KeyUnits[]).reduce((sum, u) => sum + u.units, 0);
    const id = `${r.operation}\u0000${r.transactional}`;
    const c = comparison.get(id) ?? {
      operation: r.operation,
      transactional: r.transactional,
      requests: 0,
      computed: 0,
      reported: 0,
      agreeing: 0,
    };
    c.requests++;
    c.computed += computed;
    c.reported += r.reported.total;
    if (Math.abs(computed - r.reported.total) < 1e-9) c.agreeing++;
    comparison.set(id, c);
  });
  return {
    seconds,
    requests: input.requests.length,
    failed,
    totalWcu: flat.filter((u) => u.kind === 'write').reduce((s, u) => s + u.units, 0),
    totalRcu: flat.filter((u) => u.kind === 'read').reduce((s, u) => s + u.units, 0),
    partitions,
    items,
    projections,
    comparison: [...comparison.values()].sort((a, b) => b.requests - a.requests),
  };
}
