/**
 * A recording HTTP proxy in front of DynamoDB Local: every item request (the JSON 1.0 protocol,
 * `X-Amz-Target: DynamoDB_20120810.<Op>`) is recorded with the keys it touched, the images of
 * the items it wrote and the capacity DynamoDB Local reported (./key-heat.ts turns them into units).
 *
 * - ReturnConsumedCapacity: the proxy asks INDEXES of every item request; the answer the client
 *   gets has ConsumedCapacity as it asked (none, TOTAL without the per-table/index detail, or
 *   INDEXES), otherwise the same (x-amz-crc32 recomputed). Other requests (CreateTable...) pass as they are.
 * - Item images: a Put's new image is in the request; an Update's is read after it succeeded
 *   (one consistent BatchGetItem straight to DynamoDB Local, not recorded); a Delete leaves none.
 *   The image before a write is the one the proxy last saw for that item (the previous write's
 *   after-image, or one consistent read before the first write the proxy sees of it). Writes to
 *   one item that overlap in time can see each other's images: `images.raced` counts the writes
 *   whose before and after `version` differ by other than one, where the item has a version.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, readBody } from '../../local/aws/http';
import type { TableDefinition } from '../../functions/shared/tables';
import {
  itemBytes,
  type ImageSummary,
  type IndexEntry,
  type Item,
  type RangeRead,
  type RecordedRequest,
  type ReportedCapacity,
  type TouchedItem,
} from './key-heat';

const PREFIX = 'DynamoDB_20120810.';
const ITEM_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'GetItem',
  'Query',
  'Scan',
  'BatchWriteItem',
  'BatchGetItem',
  'TransactWriteItems',
  'TransactGetItems',
]);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding', 'content-length']);

export interface RecorderOptions {
  /** DynamoDB Local, http://127.0.0.1:<port> */
  readonly upstream: string;
  /** The definition of a physical table (its key and index attributes); undefined: not recorded per item. */
  readonly definition: (table: string) => TableDefinition | undefined;
}

export interface DynamoDbRecorder {
  /** http://127.0.0.1:<port>, a client's endpoint */
  readonly url: string;
  /** The records so far; call settled() first for every answered request's (its record follows its answer). */
  records(): readonly RecordedRequest[];
  /** Resolves once every request in flight is recorded. */
  settled(): Promise<void>;
  /** Forgets the records (not the images seen). */
  clear(): void;
  readonly images: { raced: number; readBefore: number; readAfter: number };
  /** Requests the recorder failed on (answered 500, or answered but not recorded), with the last message. */
  readonly errors: { count: number; last?: string };
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function str(value: unknown): string | undefined {
  const v = asRecord(value);
  if (!v) return undefined;
  if (typeof v.S === 'string') return v.S;
  if (typeof v.N === 'string') return v.N;
  if (typeof v.B === 'string') return v.B;
  return undefined;
}

/** JSON with every object's keys sorted (the same item, however its attributes are ordered). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const record = asRecord(value);
  if (record) {
    return `{${Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE) of a body: DynamoDB's x-amz-crc32 header. */
export function crc32(buf: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of buf) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface Upstream {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export async function startDynamoDbRecorder(options: RecorderOptions): Promise<DynamoDbRecorder> {
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const records: RecordedRequest[] = [];
  const images = new Map<string, ImageSummary | null>();
  const stats = { raced: 0, readBefore: 0, readAfter: 0 };
  const errors: { count: number; last?: string } = { count: 0 };
  const inFlight = new Set<Promise<void>>();

  const send = (headers: Record<string, string | string[]>, body: Buffer, path = '/'): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: 'POST',
          path,
          headers: { ...headers, host: upstream.host, 'content-length': String(body.length) },
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(res.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
            resolve({ status: res.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('DynamoDB Local did not answer within 30 s')));
      req.on('error', reject);
      req.end(body);
    });

  /** The recorder's own call (not recorded): DynamoDB Local checks no signature. */
  const call = async (operation: string, input: Json): Promise<Json> => {
    let last = '';
    // DynamoDB Local on a loaded machine can answer 500 or drop a socket: a few attempts.
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const res = await send(
          {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `${PREFIX}${operation}`,
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
          },
          Buffer.from(JSON.stringify(input)),
        );
        if (res.status === 200) return JSON.parse(res.body.toString('utf8')) as Json;
        last = `${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
      } catch (error) {
        last = String(error);
      }
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
    throw new Error(`recorder ${operation}: ${last}`);
  };

  const keyOf = (table: string, key: Json): { pk: string; sk?: string } | undefined => {
    const def = options.definition(table);
    if (!def) return undefined;
    const pk = str(key[def.partitionKey.name]);
    if (pk === undefined) return undefined;
    const sk = def.sortKey ? str(key[def.sortKey.name]) : undefined;
    return { pk, ...(sk === undefined ? {} : { sk }) };
  };
  const keyAttributes = (table: string, item: Json): Json => {
    const def = options.definition(table);
    if (!def) return {};
    const names = [def.partitionKey.name, ...(def.sortKey ? [def.sortKey.name] : [])];
    return Object.fromEntries(names.filter((n) => n in item).map((n) => [n, item[n]]));
  };
  const imageId = (table: string, k: { pk: string; sk?: string }) => `${table}\u0000${k.pk}\u0000${k.sk ?? ''}`;
  const summarize = (table: string, item: Json | undefined): ImageSummary | null => {
    if (!item) return null;
    const def = options.definition(table);
    const indexes: IndexEntry[] = [];
    for (const index of def?.globalSecondaryIndexes ?? []) {
      const pk = str(item[index.partitionKey.name]);
      const sk = index.sortKey ? str(item[index.sortKey.name]) : undefined;
      if (pk === undefined || (index.sortKey && sk === undefined)) continue;
      indexes.push({ index: index.indexName, pk, ...(sk === undefined ? {} : { sk }) });
    }
    const version = Number(str(item.version));
    return {
      sizeBytes: itemBytes(item as Item),
      indexes,
      digest: createHash('sha256').update(canonical(item)).digest('base64'),
      ...(Number.isFinite(version) && asRecord(item.version)?.N !== undefined ? { version } : {}),
    };
  };

  /** Consistent images of keys, straight from DynamoDB Local. */
  const readImages = async (keys: readonly { table: string; key: Json }[]): Promise<Map<string, ImageSummary | null>> => {
    const out = new Map<string, ImageSummary | null>();
    const pending = new Map<string, { table: string; key: Json }>();
    for (const k of keys) {
      const id = keyOf(k.table, k.key);
      if (id) pending.set(imageId(k.table, id), k);
    }
    const all = [...pending.values()];
    for (let i = 0; i < all.length; i += 100) {
      let request: Json = {};
      for (const k of all.slice(i, i + 100)) {
        const entry = (asRecord(request[k.table]) ?? { Keys: [], ConsistentRead: true }) as { Keys: Json[] };
        entry.Keys.push(k.key);
        request[k.table] = entry;
      }
      for (let attempt = 0; Object.keys(request).length > 0 && attempt < 20; attempt++) {
        const res = await call('BatchGetItem', { RequestItems: request });
        for (const [table, items] of Object.entries(asRecord(res.Responses) ?? {})) {
          for (const item of items as Json[]) {
            const id = keyOf(table, item);
            if (id) out.set(imageId(table, id), summarize(table, item));
          }
        }
        request = asRecord(res.UnprocessedKeys) ?? {};
      }
    }
    for (const id of pending.keys()) if (!out.has(id)) out.set(id, null);
    return out;
  };

  interface PlannedWrite {
    table: string;
    key: Json;
    action: 'Put' | 'Update' | 'Delete' | 'ConditionCheck';
    item?: Json;
  }

  const plannedWrites = (operation: string, body: Json): PlannedWrite[] => {
    const out: PlannedWrite[] = [];
    const table = typeof body.TableName === 'string' ? body.TableName : '';
    if (operation === 'PutItem') {
      const item = asRecord(body.Item) ?? {};
      out.push({ table, key: keyAttributes(table, item), action: 'Put', item });
    } else if (operation === 'UpdateItem' || operation === 'DeleteItem') {
      out.push({ table, key: asRecord(body.Key) ?? {}, action: operation === 'UpdateItem' ? 'Update' : 'Delete' });
    } else if (operation === 'BatchWriteItem') {
      for (const [t, writes] of Object.entries(asRecord(body.RequestItems) ?? {})) {
        for (const w of Array.isArray(writes) ? (writes as Json[]) : []) {
          const put = asRecord(w.PutRequest);
          const del = asRecord(w.DeleteRequest);
          if (put) {
            const item = asRecord(put.Item) ?? {};
            out.push({ table: t, key: keyAttributes(t, item), action: 'Put', item });
          } else if (del) out.push({ table: t, key: asRecord(del.Key) ?? {}, action: 'Delete' });
        }
      }
    } else if (operation === 'TransactWriteItems') {
      for (const entry of Array.isArray(body.TransactItems) ? (body.TransactItems as Json[]) : []) {
        for (const action of ['Put', 'Update', 'Delete', 'ConditionCheck'] as const) {
          const detail = asRecord(entry[action]);
          if (!detail) continue;
          const t = typeof detail.TableName === 'string' ? detail.TableName : '';
          const item = asRecord(detail.Item);
          out.push({ table: t, key: item ? keyAttributes(t, item) : (asRecord(detail.Key) ?? {}), action, ...(item ? { item } : {}) });
        }
      }
    }
    return out;
  };

  const reportedOf = (value: unknown): ReportedCapacity | undefined => {
    const list = Array.isArray(value) ? (value as Json[]) : asRecord(value) ? [value as Json] : [];
    if (list.length === 0) return undefined;
    let table = 0;
    let total = 0;
    const indexes: Record<string, number> = {};
    for (const c of list) {
      total += Number(c.CapacityUnits ?? 0);
      table += Number(asRecord(c.Table)?.CapacityUnits ?? 0);
      for (const [name, u] of Object.entries(asRecord(c.GlobalSecondaryIndexes) ?? {}))
        indexes[name] = (indexes[name] ?? 0) + Number(asRecord(u)?.CapacityUnits ?? 0);
    }
    return { table, indexes, total };
  };

  /** ConsumedCapacity as the client asked for it. */
  const asAsked = (value: unknown, asked: unknown): unknown => {
    if (asked === 'INDEXES') return value;
    const strip = (c: Json): Json => {
      const { Table: _t, GlobalSecondaryIndexes: _g, LocalSecondaryIndexes: _l, ...rest } = c;
      return rest;
    };
    return Array.isArray(value) ? (value as Json[]).map(strip) : strip(value as Json);
  };

  /** The partition key value a Query's key condition names. */
  const queryPartition = (body: Json): string => {
    const table = typeof body.TableName === 'string' ? body.TableName : '';
    const def = options.definition(table);
    const indexName = typeof body.IndexName === 'string' ? body.IndexName : undefined;
    const pkName = indexName
      ? def?.globalSecondaryIndexes.find((i) => i.indexName === indexName)?.partitionKey.name
      : def?.partitionKey.name;
    const condition = typeof body.KeyConditionExpression === 'string' ? body.KeyConditionExpression : '';
    const names = asRecord(body.ExpressionAttributeNames) ?? {};
    const values = asRecord(body.ExpressionAttributeValues) ?? {};
    for (const m of condition.matchAll(/([#\w]+)\s*=\s*(:\w+)/g)) {
      const name = (m[1] as string).startsWith('#') ? names[m[1] as string] : m[1];
      if (name === pkName) return str(values[m[2] as string]) ?? '?';
    }
    return '?';
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const started = performance.now();
    const raw = await readBody(req, 16 * 1024 * 1024);
    const body = raw === 'too-large' ? Buffer.alloc(0) : raw;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host') headers[name] = value;
    const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : '';
    const operation = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : '';
    let parsed: Json | undefined;
    try {
      parsed = ITEM_OPERATIONS.has(operation) ? asRecord(JSON.parse(body.toString('utf8'))) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      const out = await send(headers, body, req.url);
      res.writeHead(out.status, { ...out.headers, 'content-length': String(out.body.length) });
      res.end(out.body);
      return;
    }
    const asked = parsed.ReturnConsumedCapacity;
    const writes = plannedWrites(operation, parsed);
    // Images before: the last seen, or read once now.
    const unknown = writes.filter((w) => {
      const id = keyOf(w.table, w.key);
      return id !== undefined && !images.has(imageId(w.table, id));
    });
    if (unknown.length) {
      stats.readBefore += unknown.length;
      for (const [id, image] of await readImages(unknown)) if (!images.has(id)) images.set(id, image);
    }
    const before = new Map(
      writes.map((w) => {
        const id = keyOf(w.table, w.key);
        return [w, id ? images.get(imageId(w.table, id)) : undefined] as const;
      }),
    );

    const forwarded = Buffer.from(JSON.stringify({ ...parsed, ReturnConsumedCapacity: 'INDEXES' }));
    const out = await send(headers, forwarded, req.url);
    let answer = out.body;
    let response: Json | undefined;
    if (out.status === 200) {
      response = asRecord(JSON.parse(out.body.toString('utf8')));
      if (response && 'ConsumedCapacity' in response) {
        const { ConsumedCapacity: consumed, ...rest } = response;
        const client = asked === undefined || asked === 'NONE' ? rest : { ...rest, ConsumedCapacity: asAsked(consumed, asked) };
        answer = Buffer.from(JSON.stringify(client));
      }
    }
    const replyHeaders = { ...out.headers, 'content-length': String(answer.length) };
    if ('x-amz-crc32' in replyHeaders) replyHeaders['x-amz-crc32'] = String(crc32(answer));
    res.writeHead(out.status, replyHeaders);
    res.end(answer);

    const ok = out.status === 200;
    let errorType: string | undefined;
    if (!ok) {
      try {
        const type = asRecord(JSON.parse(out.body.toString('utf8')))?.__type;
        errorType = typeof type === 'string' ? type.replace(/^.*#/, '') : `HTTP ${out.status}`;
      } catch {
        errorType = `HTTP ${out.status}`;
      }
    }
    // Images after a successful write.
    const after = new Map<PlannedWrite, ImageSummary | null | undefined>();
    if (ok && writes.length) {
      const updates = writes.filter((w) => w.action === 'Update');
      const read = updates.length ? await readImages(updates) : new Map<string, ImageSummary | null>();
      stats.readAfter += updates.length;
      for (const w of writes) {
        const id = keyOf(w.table, w.key);
        if (!id) continue;
        const image =
          w.action === 'Put'
            ? summarize(w.table, w.item)
            : w.action === 'Delete'
              ? null
              : w.action === 'Update'
                ? read.get(imageId(w.table, id))
                : before.get(w);
        after.set(w, image);
        if (image !== undefined) images.set(imageId(w.table, id), image);
        const b = before.get(w);
        if (w.action === 'Update' && b?.version !== undefined && image?.version !== undefined && image.version - b.version !== 1)
          stats.raced++;
      }
    }
    const items: TouchedItem[] = [];
    for (const w of writes) {
      const id = keyOf(w.table, w.key);
      if (!id) continue;
      const b = before.get(w);
      const a = after.get(w);
      items.push({
        table: w.table,
        ...id,
        action: w.action,
        ...(b === undefined ? {} : { before: b }),
        ...(a === undefined ? {} : { after: a }),
      });
    }
    let range: RangeRead | undefined;
    const reported = reportedOf(response?.ConsumedCapacity);
    if (ok && response) {
      if (operation === 'GetItem') {
        const table = String(parsed.TableName);
        const id = keyOf(table, asRecord(parsed.Key) ?? {});
        if (id) items.push({ table, ...id, action: 'Get', after: summarize(table, asRecord(response.Item)) });
      } else if (operation === 'BatchGetItem' || operation === 'TransactGetItems') {
        const found = new Map<string, ImageSummary | null>();
        const requested: { table: string; key: Json }[] = [];
        if (operation === 'BatchGetItem') {
          for (const [table, items2] of Object.entries(asRecord(response.Responses) ?? {}))
            for (const item of items2 as Json[]) {
              const id = keyOf(table, item);
              if (id) found.set(imageId(table, id), summarize(table, item));
            }
          const unprocessed = asRecord(response.UnprocessedKeys) ?? {};
          for (const [table, entry] of Object.entries(asRecord(parsed.RequestItems) ?? {})) {
            const skipped = new Set(
              ((asRecord(unprocessed[table])?.Keys as Json[] | undefined) ?? []).map((k) => JSON.stringify(keyOf(table, k))),
            );
            for (const key of (asRecord(entry)?.Keys as Json[] | undefined) ?? [])
              if (!skipped.has(JSON.stringify(keyOf(table, key)))) requested.push({ table, key });
          }
        } else {
          const responses = Array.isArray(response.Responses) ? (response.Responses as Json[]) : [];
          (Array.isArray(parsed.TransactItems) ? (parsed.TransactItems as Json[]) : []).forEach((entry, i) => {
            const get = asRecord(entry.Get);
            if (!get) return;
            const table = String(get.TableName);
            const key = asRecord(get.Key) ?? {};
            requested.push({ table, key });
            const id = keyOf(table, key);
            if (id) found.set(imageId(table, id), summarize(table, asRecord(responses[i]?.Item)));
          });
        }
        for (const r of requested) {
          const id = keyOf(r.table, r.key);
          if (id) items.push({ table: r.table, ...id, action: 'Get', after: found.get(imageId(r.table, id)) ?? null });
        }
      } else if (operation === 'Query' || operation === 'Scan') {
        const table = String(parsed.TableName);
        const index = typeof parsed.IndexName === 'string' ? parsed.IndexName : undefined;
        range = {
          table,
          ...(index === undefined ? {} : { index }),
          pk: operation === 'Scan' ? '*' : queryPartition(parsed),
          units: reported?.total ?? 0,
          items: Number(response.Count ?? 0),
        };
      }
    }
    records.push({
      at,
      ms: performance.now() - started,
      operation,
      transactional: operation.startsWith('Transact'),
      consistentRead:
        parsed.ConsistentRead === true ||
        Object.values(asRecord(parsed.RequestItems) ?? {}).some((e) => asRecord(e)?.ConsistentRead === true),
      ok,
      status: out.status,
      ...(errorType === undefined ? {} : { errorType }),
      items,
      ...(range ? { range } : {}),
      ...(reported ? { reported } : {}),
      ...(typeof asked === 'string' ? { clientAsked: asked } : {}),
    });
  };

  const { endpoint } = await listen((req, res) => {
    const handling = handle(req, res);
    inFlight.add(handling);
    void handling.finally(() => inFlight.delete(handling)).catch(() => undefined);
    handling.catch((error: unknown) => {
      errors.count++;
      errors.last = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) }));
      } else res.destroy();
    });
  });
  return {
    url: endpoint.url,
    records: () => records,
    settled: async () => {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    clear: () => {
      records.length = 0;
    },
    images: stats,
    errors,
    close: async () => {
      await endpoint.close();
      agent.destroy();
    },
  };
}
