/**
 * DynamoDB with IAM: an HTTP endpoint in front of DynamoDB Local (which checks no policy) that
 * speaks the DynamoDB JSON 1.0 protocol (`X-Amz-Target: DynamoDB_20120810.<Op>`, and the Streams
 * API's `DynamoDBStreams_20120810.<Op>`). Each request is authenticated (SigV4), mapped to the
 * IAM action(s) and resource ARN(s) DynamoDB authorizes it with, and evaluated against the
 * caller's policies. Denied: 400 AccessDeniedException in DynamoDB's own error body. Allowed:
 * forwarded byte for byte (only the credential's key is replaced: DynamoDB Local accepts letters
 * and digits only, and with -sharedDb every key sees the same tables) and the answer streamed
 * back as it comes, x-amz-crc32 and all.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { describeError, silentLogger, type Logger } from '../log';
import { BoundedLog, listen, parseJsonObject, readBody, sendJsonError, type ListenOptions, type LocalEndpoint } from './http';
import { IamEvaluationError, type AuthenticationFailureKind, type Decision, type IamAuthority, type Principal } from './iam';

const JSON_1_0 = 'application/x-amz-json-1.0';
const CORAL = 'com.amazon.coral.service#';
const DYNAMODB_PREFIX = 'DynamoDB_20120810.';
const STREAMS_PREFIX = 'DynamoDBStreams_20120810.';

export interface IamCheck {
  readonly action: string;
  readonly resource: string;
}

export interface KeyRef {
  readonly table: string;
  /** The key attributes, in DynamoDB JSON ({"pk":{"S":"..."}}). */
  readonly key: Readonly<Record<string, unknown>>;
}

/** What one request asks of IAM, and what it touches. */
export interface DynamoDbRequestMapping {
  readonly checks: readonly IamCheck[];
  readonly tables: readonly string[];
  readonly index?: string;
  /** The keys the request names (Key maps, and Items projected on keyAttributes when known). */
  readonly keys: readonly KeyRef[];
}

export interface DynamoDbMappingError {
  readonly error: { readonly type: string; readonly message: string };
}

export interface DynamoDbCallRecord {
  /** epoch ms at arrival */
  readonly at: number;
  /** Undefined when the request was refused before a principal was known. */
  readonly principal?: Principal;
  readonly api: 'dynamodb' | 'streams' | 'unknown';
  readonly operation: string;
  readonly tables: readonly string[];
  readonly index?: string;
  readonly keys: readonly KeyRef[];
  readonly checks: readonly IamCheck[];
  /** True when it was forwarded to DynamoDB Local. */
  readonly allowed: boolean;
  /** The HTTP status answered (DynamoDB Local's own for a forwarded call). */
  readonly status: number;
  /** The error the proxy answered itself (AccessDeniedException, UnrecognizedClientException, ...). */
  readonly errorType?: string;
  readonly errorMessage?: string;
  /** Arrival to the end of the answer. */
  readonly latencyMs: number;
  /** Of latencyMs, the time spent on authentication and policy evaluation. */
  readonly authorizeMs: number;
  /** Of latencyMs, from forwarding to the end of DynamoDB Local's answer (undefined when not forwarded). */
  readonly upstreamMs?: number;
  /** The parsed request body (undefined when it was not JSON). */
  readonly request?: Readonly<Record<string, unknown>>;
}

export interface DynamoDbProxyOptions extends ListenOptions {
  /** DynamoDB Local, http://127.0.0.1:<port> */
  readonly upstream: string;
  readonly authority: IamAuthority;
  /** The region and account of the ARNs policies name (DynamoDB Local's own are ddblocal / 000000000000). */
  readonly region: string;
  readonly accountId: string;
  /** Longest wait for DynamoDB Local's whole answer. @default 10 s */
  readonly upstreamTimeoutMs?: number;
  /** DynamoDB's request size limit. @default 16 MiB */
  readonly maxRequestBytes?: number;
  /** The access key forwarded to DynamoDB Local. @default 'local' */
  readonly upstreamAccessKeyId?: string;
  /** Called once per request, after its answer is sent. */
  readonly recorder?: (record: DynamoDbCallRecord) => void;
  /** The key attribute names of a table, to record the keys of written Items. */
  readonly keyAttributes?: (table: string) => readonly string[] | undefined;
  readonly logger?: Logger;
}

export type DynamoDbProxy = LocalEndpoint;

export interface ArnContext {
  readonly region: string;
  readonly accountId: string;
}

export function tableArn(ctx: ArnContext, table: string): string {
  return `arn:aws:dynamodb:${ctx.region}:${ctx.accountId}:table/${table}`;
}

export function indexArn(ctx: ArnContext, table: string, index: string): string {
  return `${tableArn(ctx, table)}/index/${index}`;
}

const STREAM_ARN = /^arn:aws[a-z-]*:dynamodb:[^:]*:[^:]*:table\/([^/]+)\/stream\/([^/|]+)$/;
const DYNAMODB_ARN = /^arn:aws[a-z-]*:dynamodb:[^:]*:[^:]*:(.+)$/;

/**
 * A stream ARN in the region and account the policies name: DynamoDB Local answers
 * arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/<label>, a deployed table
 * arn:aws:dynamodb:<region>:<account>:table/T/stream/<label>. Undefined when not a stream ARN.
 */
export function streamArn(ctx: ArnContext, arn: string): string | undefined {
  const m = STREAM_ARN.exec(arn);
  if (m === null) return undefined;
  return `${tableArn(ctx, m[1] as string)}/stream/${m[2] as string}`;
}

function validation(message: string): DynamoDbMappingError {
  return { error: { type: 'com.amazon.coral.validate#ValidationException', message } };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** TableName may be a name or (since 2024) a table ARN. */
function tableNameOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.startsWith('arn:')) return /:table\/([^/]+)/.exec(value)?.[1];
  return value;
}

/** Operations that name no resource: IAM evaluates them on `*`. */
const NO_RESOURCE = new Set([
  'ListTables',
  'DescribeLimits',
  'DescribeEndpoints',
  'ListBackups',
  'ListGlobalTables',
  'ListExports',
  'ListImports',
  'ListContributorInsights',
]);

const PARTIQL: readonly [RegExp, string][] = [
  [/^\s*SELECT\b[\s\S]*?\bFROM\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))(?:\s*\.\s*(?:"([^"]+)"|([A-Za-z0-9_.-]+)))?/i, 'dynamodb:PartiQLSelect'],
  [/^\s*INSERT\s+INTO\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))/i, 'dynamodb:PartiQLInsert'],
  [/^\s*UPDATE\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))/i, 'dynamodb:PartiQLUpdate'],
  [/^\s*DELETE\s+FROM\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))/i, 'dynamodb:PartiQLDelete'],
];

function partiql(ctx: ArnContext, statement: unknown): { check: IamCheck; table: string; index?: string } | undefined {
  if (typeof statement !== 'string') return undefined;
  for (const [pattern, action] of PARTIQL) {
    const m = pattern.exec(statement);
    if (m === null) continue;
    const table = (m[1] ?? m[2]) as string;
    const index = m[3] ?? m[4];
    return {
      check: { action, resource: index === undefined ? tableArn(ctx, table) : indexArn(ctx, table, index) },
      table,
      ...(index === undefined ? {} : { index }),
    };
  }
  return undefined;
}

/**
 * The IAM checks of one DynamoDB or DynamoDB Streams request, as DynamoDB authorizes it:
 * Query/Scan with IndexName on the index ARN; BatchGetItem and BatchWriteItem their own action
 * on each table; TransactWriteItems each item's own action (PutItem, UpdateItem, DeleteItem,
 * ConditionCheckItem) on its table; TransactGetItems GetItem per item; PartiQL by statement
 * verb; stream reads on the stream ARN (GetRecords: the one its shard iterator belongs to);
 * List* and DescribeLimits on `*`; anything else dynamodb:<Op> on its table.
 */
export function mapDynamoDbRequest(
  target: string,
  body: Readonly<Record<string, unknown>>,
  ctx: ArnContext,
  keyAttributes?: (table: string) => readonly string[] | undefined,
): DynamoDbRequestMapping | DynamoDbMappingError {
  const keys: KeyRef[] = [];
  const addKey = (table: string, key: unknown): void => {
    const record = asRecord(key);
    if (record !== undefined) keys.push({ table, key: record });
  };
  const addItemKey = (table: string, item: unknown): void => {
    const names = keyAttributes?.(table);
    const record = asRecord(item);
    if (names === undefined || record === undefined) return;
    keys.push({ table, key: Object.fromEntries(names.filter((n) => n in record).map((n) => [n, record[n]])) });
  };

  if (target.startsWith(STREAMS_PREFIX)) {
    const op = target.slice(STREAMS_PREFIX.length);
    const action = `dynamodb:${op}`;
    if (op === 'ListStreams') {
      const table = tableNameOf(body.TableName);
      return { checks: [{ action, resource: '*' }], tables: table === undefined ? [] : [table], keys };
    }
    let raw: unknown = body.StreamArn;
    if (op === 'GetRecords') {
      const iterator = body.ShardIterator;
      raw = typeof iterator === 'string' ? iterator.split('|')[0] : undefined;
      if (raw === undefined)
        return validation(
          "1 validation error detected: Value null at 'shardIterator' failed to satisfy constraint: Member must not be null",
        );
    }
    const arn = typeof raw === 'string' ? streamArn(ctx, raw) : undefined;
    if (arn === undefined) return validation(op === 'GetRecords' ? 'Invalid ShardIterator' : `Invalid StreamArn`);
    return { checks: [{ action, resource: arn }], tables: [(STREAM_ARN.exec(arn) as RegExpExecArray)[1] as string], keys };
  }

  if (!target.startsWith(DYNAMODB_PREFIX)) {
    return { error: { type: `${CORAL}UnknownOperationException`, message: '' } };
  }
  const op = target.slice(DYNAMODB_PREFIX.length);
  const action = `dynamodb:${op}`;
  const missingTable = validation(
    "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
  );

  switch (op) {
    case 'Query':
    case 'Scan': {
      const table = tableNameOf(body.TableName);
      if (table === undefined) return missingTable;
      const index = typeof body.IndexName === 'string' ? body.IndexName : undefined;
      return {
        checks: [{ action, resource: index === undefined ? tableArn(ctx, table) : indexArn(ctx, table, index) }],
        tables: [table],
        ...(index === undefined ? {} : { index }),
        keys,
      };
    }
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      const items = asRecord(body.RequestItems);
      const tables = items === undefined ? [] : Object.keys(items).map((t) => tableNameOf(t) ?? t);
      if (items === undefined || tables.length === 0) {
        return validation(
          "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null",
        );
      }
      for (const [name, entry] of Object.entries(items)) {
        const table = tableNameOf(name) ?? name;
        if (op === 'BatchGetItem') {
          const keysOf = asRecord(entry)?.Keys;
          if (Array.isArray(keysOf)) for (const key of keysOf) addKey(table, key);
        } else if (Array.isArray(entry)) {
          for (const write of entry) {
            const w = asRecord(write);
            if (w === undefined) continue;
            const del = asRecord(w.DeleteRequest);
            if (del !== undefined) addKey(table, del.Key);
            const put = asRecord(w.PutRequest);
            if (put !== undefined) addItemKey(table, put.Item);
          }
        }
      }
      return { checks: [...new Set(tables)].map((t) => ({ action, resource: tableArn(ctx, t) })), tables: [...new Set(tables)], keys };
    }
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = body.TransactItems;
      if (!Array.isArray(items) || items.length === 0) {
        return validation(
          "1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null",
        );
      }
      const parts: Record<string, string> =
        op === 'TransactGetItems'
          ? { Get: 'dynamodb:GetItem' }
          : {
              Put: 'dynamodb:PutItem',
              Update: 'dynamodb:UpdateItem',
              Delete: 'dynamodb:DeleteItem',
              ConditionCheck: 'dynamodb:ConditionCheckItem',
            };
      const checks: IamCheck[] = [];
      const tables: string[] = [];
      for (const item of items) {
        const entry = asRecord(item);
        const kind = entry === undefined ? undefined : Object.keys(parts).find((k) => asRecord(entry[k]) !== undefined);
        const detail = kind === undefined || entry === undefined ? undefined : asRecord(entry[kind]);
        const table = tableNameOf(detail?.TableName);
        if (kind === undefined || detail === undefined || table === undefined) {
          return validation('1 validation error detected: a TransactItem names no operation or no TableName');
        }
        checks.push({ action: parts[kind] as string, resource: tableArn(ctx, table) });
        tables.push(table);
        if (kind === 'Put') addItemKey(table, detail.Item);
        else addKey(table, detail.Key);
      }
      return { checks, tables: [...new Set(tables)], keys };
    }
    case 'ExecuteStatement':
    case 'BatchExecuteStatement':
    case 'ExecuteTransaction': {
      const statements =
        op === 'ExecuteStatement'
          ? [body.Statement]
          : (Array.isArray(body.Statements) ? body.Statements : Array.isArray(body.TransactStatements) ? body.TransactStatements : []).map(
              (s) => asRecord(s)?.Statement,
            );
      const mapped = statements.map((s) => partiql(ctx, s));
      if (mapped.length === 0 || mapped.some((m) => m === undefined)) {
        return validation("Statement wasn't well formed, can't be processed: the table could not be read from it");
      }
      const ok = mapped as { check: IamCheck; table: string; index?: string }[];
      const index = ok.find((m) => m.index !== undefined)?.index;
      return {
        checks: ok.map((m) => m.check),
        tables: [...new Set(ok.map((m) => m.table))],
        ...(index === undefined ? {} : { index }),
        keys,
      };
    }
    default: {
      if (NO_RESOURCE.has(op)) return { checks: [{ action, resource: '*' }], tables: [], keys };
      const table = tableNameOf(body.TableName);
      if (table !== undefined) {
        if (op === 'GetItem' || op === 'DeleteItem' || op === 'UpdateItem') addKey(table, body.Key);
        if (op === 'PutItem') addItemKey(table, body.Item);
        return { checks: [{ action, resource: tableArn(ctx, table) }], tables: [table], keys };
      }
      const arn = typeof body.ResourceArn === 'string' ? DYNAMODB_ARN.exec(body.ResourceArn) : null;
      if (arn !== null) {
        const resource = `arn:aws:dynamodb:${ctx.region}:${ctx.accountId}:${arn[1] as string}`;
        const named = /^table\/([^/]+)/.exec(arn[1] as string)?.[1];
        return { checks: [{ action, resource }], tables: named === undefined ? [] : [named], keys };
      }
      if (['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'DescribeTable', 'CreateTable', 'DeleteTable', 'UpdateTable'].includes(op)) {
        return missingTable;
      }
      return { checks: [{ action, resource: '*' }], tables: [], keys };
    }
  }
}

function isMappingError(value: DynamoDbRequestMapping | DynamoDbMappingError): value is DynamoDbMappingError {
  return 'error' in value;
}

const AUTH_ERRORS: Record<AuthenticationFailureKind, string> = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  'unknown-key': 'UnrecognizedClientException',
  'invalid-signature': 'InvalidSignatureException',
};

/** Headers DynamoDB Local's answer keeps when relayed: all but the hop-by-hop ones. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

export async function startDynamoDbProxy(options: DynamoDbProxyOptions): Promise<DynamoDbProxy> {
  const upstream = new URL(options.upstream);
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 10_000;
  const maxRequestBytes = options.maxRequestBytes ?? 16 * 1024 * 1024;
  const upstreamKey = options.upstreamAccessKeyId ?? 'local';
  const logger = options.logger ?? silentLogger;
  const ctx: ArnContext = { region: options.region, accountId: options.accountId };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const at = Date.now();
    const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : '';
    const api = target.startsWith(DYNAMODB_PREFIX) ? 'dynamodb' : target.startsWith(STREAMS_PREFIX) ? 'streams' : 'unknown';
    const operation = target.slice(target.indexOf('.') + 1);
    // What is known so far, for the record of however the request ends.
    const known: { principal?: Principal; mapping?: DynamoDbRequestMapping; parsed?: Record<string, unknown> } = {};
    let authorizeMs = 0;

    const record = (fields: Pick<DynamoDbCallRecord, 'allowed' | 'status'> & Partial<DynamoDbCallRecord>): void => {
      if (options.recorder === undefined) return;
      const base: DynamoDbCallRecord = {
        at,
        api,
        operation,
        tables: known.mapping?.tables ?? [],
        keys: known.mapping?.keys ?? [],
        checks: known.mapping?.checks ?? [],
        latencyMs: performance.now() - started,
        authorizeMs,
        ...(known.principal === undefined ? {} : { principal: known.principal }),
        ...(known.mapping?.index === undefined ? {} : { index: known.mapping.index }),
        ...(known.parsed === undefined ? {} : { request: known.parsed }),
        ...fields,
      };
      try {
        options.recorder(base);
      } catch (error) {
        logger.warn(`dynamodb proxy recorder: ${describeError(error)}`);
      }
    };
    const refuse = (status: number, type: string, message: string, messageKey: 'message' | 'Message' = 'message'): void => {
      sendJsonError(res, status, JSON_1_0, type, message, messageKey);
      record({ allowed: false, status, errorType: type.slice(type.indexOf('#') + 1), errorMessage: message });
    };

    const body = await readBody(req, maxRequestBytes);
    if (body === 'too-large') {
      refuse(413, `${CORAL}RequestEntityTooLarge`, `Request size exceeded ${String(maxRequestBytes)} bytes`);
      return;
    }
    const authStarted = performance.now();
    const auth = await options.authority.authenticate(
      { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body },
      { service: 'dynamodb', region: options.region },
    );
    if (!auth.ok) {
      authorizeMs = performance.now() - authStarted;
      refuse(400, `${CORAL}${AUTH_ERRORS[auth.failure.kind]}`, auth.failure.message);
      return;
    }
    const principal = auth.principal;
    known.principal = principal;
    if (api === 'unknown') {
      authorizeMs = performance.now() - authStarted;
      refuse(400, `${CORAL}UnknownOperationException`, '');
      return;
    }
    const parsed = parseJsonObject(body);
    known.parsed = parsed;
    if (parsed === undefined) {
      authorizeMs = performance.now() - authStarted;
      refuse(400, `${CORAL}SerializationException`, 'Start of structure or map found where not expected');
      return;
    }
    const mapped = mapDynamoDbRequest(target, parsed, ctx, options.keyAttributes);
    if (isMappingError(mapped)) {
      authorizeMs = performance.now() - authStarted;
      refuse(400, mapped.error.type, mapped.error.message);
      return;
    }
    known.mapping = mapped;
    let decision: Decision;
    try {
      decision = await options.authority.authorizeAll(principal.accessKeyId, mapped.checks);
    } catch (error) {
      authorizeMs = performance.now() - authStarted;
      if (error instanceof IamEvaluationError && /invalid\.action/.test(error.message)) {
        refuse(400, `${CORAL}UnknownOperationException`, '');
        return;
      }
      logger.error(`dynamodb proxy: ${target}: ${describeError(error)}`);
      refuse(500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error');
      return;
    }
    authorizeMs = performance.now() - authStarted;
    if (!decision.allowed) {
      // DynamoDB words this one with a capital M.
      refuse(400, `${CORAL}AccessDeniedException`, decision.message, 'Message');
      return;
    }
    forward(req, res, body, (status, upstreamMs, error) => {
      record({
        allowed: true,
        status,
        ...(upstreamMs === undefined ? {} : { upstreamMs }),
        ...(error === undefined ? {} : { errorType: 'InternalServerError', errorMessage: error }),
      });
    });
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    done: (status: number, upstreamMs: number | undefined, error?: string) => void,
  ): void => {
    const sent = performance.now();
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      headers[name] = value;
    }
    headers.host = upstream.host;
    headers['content-length'] = String(body.length);
    const authorization = req.headers.authorization ?? '';
    headers.authorization = authorization.replace(/Credential=[^/]*\//, `Credential=${upstreamKey}/`);

    let finished = false;
    const finish = (status: number, error?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(status, performance.now() - sent, error);
    };
    const upstreamReq = http.request(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (upstreamRes) => {
        const raw: string[] = [];
        for (let i = 0; i + 1 < upstreamRes.rawHeaders.length; i += 2) {
          const name = upstreamRes.rawHeaders[i] as string;
          if (!HOP_BY_HOP.has(name.toLowerCase())) raw.push(name, upstreamRes.rawHeaders[i + 1] as string);
        }
        const status = upstreamRes.statusCode ?? 502;
        res.writeHead(status, raw);
        pipeline(upstreamRes, res, (error) => {
          finish(status, error ? describeError(error) : undefined);
        });
      },
    );
    const timer = setTimeout(() => {
      upstreamReq.destroy(new Error(`DynamoDB Local did not answer within ${String(upstreamTimeoutMs)} ms`));
    }, upstreamTimeoutMs);
    // A caller that gives up frees DynamoDB Local's side too.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    upstreamReq.on('error', (error) => {
      if (res.headersSent) {
        res.destroy();
      } else if (!res.destroyed) {
        sendJsonError(res, 500, JSON_1_0, 'com.amazonaws.dynamodb.v20120810#InternalServerError', error.message);
      }
      finish(500, error.message);
    });
    upstreamReq.end(body);
  };

  const { endpoint } = await listen((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`dynamodb proxy: ${describeError(error)}`);
      if (!res.headersSent)
        sendJsonError(res, 500, JSON_1_0, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error');
      else res.destroy();
    });
  }, options);
  return {
    ...endpoint,
    close: async () => {
      await endpoint.close();
      agent.destroy();
    },
  };
}

/** A recorder that keeps the last `limit` calls, for tests that count or inspect them. */
export function recordCalls(limit = 10_000): {
  readonly recorder: (record: DynamoDbCallRecord) => void;
  calls(): DynamoDbCallRecord[];
  clear(): void;
} {
  const log = new BoundedLog<DynamoDbCallRecord>(limit);
  return {
    recorder: (r) => {
      log.push(r);
    },
    calls: () => log.all(),
    clear: () => {
      log.clear();
    },
  };
}
