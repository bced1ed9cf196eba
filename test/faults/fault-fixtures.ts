/**
 * Fixtures of the fault suites: the REST API (local REST front, real handlers) wired to services
 * the test controls (its own redis-server, a DynamoDB behind a proxy that can refuse, hang or lose
 * answers), and small helpers.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { L2Store } from '../../functions/cache/l2';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import type { ShopRepository } from '../../functions/catalog/ports';
import { resetConfig } from '../../functions/shared/config';
import { shopKeys } from '../../functions/shared/tables';
import { startRestFront, type RestFront } from '../../local/rest-front';
import { mintDevToken } from '../../local/tokens';
import { countingRepository } from '../api/api-fixtures';
import { dynamoDbEndpoint, testDocumentClient, testTables } from '../support';
import { unwireServices, wireServices, type WiredServices } from '../support/services';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

export interface FaultApi {
  readonly front: RestFront;
  readonly tableName: string;
  /** A repository straight to DynamoDB Local: what is really stored. */
  readonly truth: DynamoShopRepository;
  readonly truthClient: DynamoDBDocumentClient;
  /** Repository calls the handlers made since the last wire(). */
  repositoryCalls(): number;
  /** Rewires the handlers: the repository (default: DynamoDB Local) and the L2 store (default: none). */
  wire(parts: { repo?: ShopRepository; l2?: L2Store; l1?: boolean }): WiredServices;
  call(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  token(tenantId: string): Promise<string>;
  /** Orders stored for a tenant (to prove that none was half-written or written twice). */
  ordersOf(tenantId: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** frontTimeoutMs: the integration timeout of the REST front (API Gateway's 29 s by default). */
export async function startFaultApi(prefix: string, options: { frontTimeoutMs?: number } = {}): Promise<FaultApi> {
  const names = await testTables(prefix);
  const truthClient = testDocumentClient();
  const truth = new DynamoShopRepository(truthClient, names.shop);
  let counted = countingRepository(truth);
  const wire = (parts: { repo?: ShopRepository; l2?: L2Store; l1?: boolean }) => {
    process.env.RATE_LIMIT_PER_MINUTE = '1000000';
    if (parts.l1 === false) process.env.CACHE_L1_MAX_ENTRIES = '0';
    resetConfig();
    counted = countingRepository(parts.repo ?? truth);
    const services = wireServices({ repo: counted.repo, ...(parts.l2 ? { l2: parts.l2 } : {}) });
    delete process.env.RATE_LIMIT_PER_MINUTE;
    delete process.env.CACHE_L1_MAX_ENTRIES;
    resetConfig();
    return services;
  };
  wire({});
  const front = await startRestFront({ port: 0, ...(options.frontTimeoutMs ? { timeoutMs: options.frontTimeoutMs } : {}) });
  const tokens = new Map<string, string>();
  return {
    front,
    tableName: names.shop,
    truth,
    truthClient,
    repositoryCalls: () => counted.calls(),
    wire,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.Authorization = `Bearer ${options.token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['Content-Type'] = 'application/json';
      }
      return fetch(`${front.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    },
    async token(tenant) {
      if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken({ tenantId: tenant }));
      return tokens.get(tenant) as string;
    },
    async ordersOf(tenant) {
      const out = await truthClient.send(
        new QueryCommand({
          TableName: names.shop,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :o)',
          ExpressionAttributeValues: { ':pk': shopKeys.tenant(tenant), ':o': shopKeys.order('') },
          ConsistentRead: true,
        }),
      );
      return out.Items ?? [];
    },
    async close() {
      await front.close();
      unwireServices();
      truthClient.destroy();
    },
  };
}

export async function readJson(response: Response): Promise<any> {
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}

/** What the proxy does with one DynamoDB request, by its operation (X-Amz-Target, e.g. "TransactWriteItems"). */
export type ProxyAction = 'pass' | 'reset' | 'hang' | 'lose-answer';

export interface DynamoProxy {
  readonly endpoint: string;
  /** Decides per operation; default: everything passes. */
  setPolicy(policy: (operation: string) => ProxyAction): void;
  /** Requests seen per operation. */
  readonly seen: Record<string, number>;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of DynamoDB Local that can refuse a request (connection reset before it
 * is forwarded: nothing reaches the table), hang it (never forwarded, never answered), or forward
 * it and then lose the answer (the write is committed, the client sees a reset).
 */
export async function startDynamoProxy(target = dynamoDbEndpoint()): Promise<DynamoProxy> {
  const upstream = new URL(target);
  let policy: (operation: string) => ProxyAction = () => 'pass';
  const seen: Record<string, number> = {};
  const hung: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    seen[operation] = (seen[operation] ?? 0) + 1;
    const action = policy(operation);
    if (action === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action === 'hang') {
      req.resume();
      hung.push(res);
      return;
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (action === 'lose-answer') {
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setPolicy: (p) => {
      policy = p;
    },
    seen,
    close: async () => {
      for (const res of hung) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
