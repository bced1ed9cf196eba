/**
 * CDN purges through the real CloudFrontClient against the local CloudFront endpoint (REST-XML,
 * SigV4, IAM on the distribution ARN, CloudFront's in-progress limits), signed as the fan-out's
 * role: its CloudFront statements are the synthesized template's, so a missing grant shows here as
 * CloudFront's AccessDenied.
 *  - one invalidation per batch, the marketplace path when a listed product changes, nothing for
 *    stock, order or dashboard changes;
 *  - no new invalidation while one created after the change is in progress (GetInvalidation);
 *  - a refused GetInvalidation is logged as an error and counted, and the purge still goes out;
 *  - throttling (TooManyInvalidationsInProgress) is retried a bounded number of times, then the
 *    purge is deferred to the next batch, coalesced with it; the fan-out batch does not fail, so
 *    its WebSocket pushes are not replayed.
 */
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { purgeCdnFromStream } from '../../functions/streams/cdn-purge';
import { CloudFrontPurger, type CdnPurgeMetric, type CdnPurgeObserver } from '../../functions/cdn/cdn-purger';
import { messageOrder } from '../../functions/realtime/message-order';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { startCloudFront, type LocalCloudFront } from '../../local/aws/cloudfront';
import { IamAuthority, type PolicyStatement, type PrincipalRegistration } from '../../local/aws/iam';
import { createLambdaContext } from '../../local/lambda-context';
import { ACCOUNT, REGION, credentialsOf, principal } from '../aws/support';
import { inContainer, resolveVariables, runtimeVariables, templateVariables } from '../infra/container';
import { resourceNamed, synthesize, type SynthesizedShopEdge } from '../infra/support';
import { dynamoDbEndpoint, testDocumentClient, testTables, uniqueId } from '../support';
import { startConnectionsRecorder, type ConnectionsRecorder } from '../support/connections-recorder';

jest.setTimeout(60_000);

const DIST = 'E1SHOPEDGE0001';
const DISTRIBUTION_ARN = `arn:aws:cloudfront::${ACCOUNT}:distribution/${DIST}`;

let dev: SynthesizedShopEdge;
let authority: IamAuthority;
let cf: LocalCloudFront;
/** Signs as the fan-out's role, with the template's CloudFront grant. */
let fanOutRole: PrincipalRegistration;
let admin: PrincipalRegistration;
const clients: CloudFrontClient[] = [];
let requests = 0;

/** The fan-out role's CloudFront statements from the template, on the local distribution. */
function templateCloudFrontStatements(): PolicyStatement[] {
  const document = resourceNamed(dev.templates.streams, 'AWS::IAM::Policy', 'FanOutRoleDefaultPolicy').Properties.PolicyDocument as {
    Statement: { Effect: string; Action: string | string[]; Resource: unknown }[];
  };
  return document.Statement.filter((s) => JSON.stringify(s.Action).includes('cloudfront:')).map((s) => {
    // The distribution's ARN, imported from the Cdn stack; anything else would be a wrong grant.
    expect(JSON.stringify(s.Resource)).toMatch(/":distribution\/",\{"Fn::ImportValue":"[^"]*Distribution/);
    return { Effect: s.Effect, Action: s.Action, Resource: DISTRIBUTION_ARN } as PolicyStatement;
  });
}

function client(p: PrincipalRegistration): CloudFrontClient {
  const c = new CloudFrontClient({ endpoint: cf.url, region: REGION, credentials: credentialsOf(p), maxAttempts: 1 });
  // Every request the purger sends, attempts included.
  c.middlewareStack.add(
    (next) => (args) => {
      requests++;
      return next(args);
    },
    { step: 'finalizeRequest' },
  );
  clients.push(c);
  return c;
}

/** Records what the purger reports instead of logging it. */
function recorder(): CdnPurgeObserver & { counts: CdnPurgeMetric[]; errors: { message: string; details: unknown }[]; warnings: string[] } {
  const counts: CdnPurgeMetric[] = [];
  const errors: { message: string; details: unknown }[] = [];
  const warnings: string[] = [];
  return {
    counts,
    errors,
    warnings,
    count: (m) => counts.push(m),
    error: (message, details) => errors.push({ message, details }),
    warn: (message) => warnings.push(message),
  };
}

let sequence = 0;
function record(
  sk: string,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
  tenant = 'acme',
): DynamoDBRecord {
  sequence++;
  const keys = { pk: `T#${tenant}`, sk };
  return {
    eventName: before ? (after ? 'MODIFY' : 'REMOVE') : 'INSERT',
    dynamodb: {
      SequenceNumber: String(sequence),
      ApproximateCreationDateTime: Date.now() / 1000,
      Keys: marshall(keys) as never,
      ...(before ? { OldImage: marshall({ ...keys, ...before }) as never } : {}),
      ...(after ? { NewImage: marshall({ ...keys, ...after }) as never } : {}),
    },
  };
}

const productChange = (id: string, tenant?: string) =>
  record(`P#${id}`, { version: 1, listed: false }, { version: 2, listed: false }, tenant);
const stockChange = () => record('S#p1', { version: 1, stock: 3 }, { version: 2, stock: 2 });

/** Fills CloudFront's 15 wildcard paths in progress: the next wildcard purge is TooManyInvalidationsInProgress. */
async function saturate(): Promise<void> {
  const purger = new CloudFrontPurger(client(admin), DIST, { observer: recorder() });
  for (let i = 0; i < 15; i++) await purger.purge([`/other${String(i)}/*`], Date.now());
  expect(cf.invalidations(DIST).filter((inv) => inv.status === 'InProgress')).toHaveLength(15);
}

beforeAll(async () => {
  dev = synthesize();
  authority = new IamAuthority();
  cf = await startCloudFront({ authority, accountId: ACCOUNT, distributions: [DIST], completionDelayMs: 60_000 });
  fanOutRole = principal('FanOut', templateCloudFrontStatements());
  admin = principal('Admin', [{ Effect: 'Allow', Action: 'cloudfront:*', Resource: '*' }]);
  authority.register(fanOutRole);
  authority.register(admin);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await cf.close();
});

beforeEach(() => {
  cf.clear();
  requests = 0;
});

const paths = () => cf.invalidations(DIST).map((inv) => inv.paths);

it('purges the tenant product paths once per batch, however many products changed', async () => {
  const purger = new CloudFrontPurger(client(fanOutRole), DIST, { observer: recorder() });
  await purgeCdnFromStream(
    [1, 2, 3].map((n) => productChange(`p${String(n)}`)),
    purger,
  );
  expect(paths()).toEqual([['/api/products*']]);
});

it('adds the marketplace path when a listed product changes (or stops being listed)', async () => {
  const purger = new CloudFrontPurger(client(fanOutRole), DIST, { observer: recorder() });
  await purgeCdnFromStream([record('P#p1', { version: 1, listed: true }, { version: 2, listed: false })], purger);
  expect(paths()).toEqual([['/api/products*', '/api/marketplace/products*']]);
});

it('purges nothing for stock, order or dashboard changes', async () => {
  const purger = new CloudFrontPurger(client(fanOutRole), DIST, { observer: recorder() });
  await purgeCdnFromStream(
    [stockChange(), record('O#o1', undefined, { version: 1 }), record('M#2026-11-25', undefined, { ordersToday: 1 })],
    purger,
  );
  expect(paths()).toEqual([]);
  expect(requests).toBe(0);
});

it('sends no new invalidation while one created after the change is still in progress (with the template grant)', async () => {
  const observer = recorder();
  let clock = 1_000_000;
  const purger = new CloudFrontPurger(client(fanOutRole), DIST, { now: () => clock, observer });
  await purger.purge(['/api/products*'], clock - 10);
  clock += 100;
  await purger.purge(['/api/products*'], clock - 200); // committed before the first purge was created
  expect(paths()).toHaveLength(1);
  await purger.purge(['/api/products*'], clock + 1); // committed after it: must purge again
  expect(paths()).toHaveLength(2);
  expect(observer.errors).toEqual([]);
});

it('logs and counts a refused GetInvalidation (coalescing off), and purges anyway', async () => {
  const createOnly = principal('CreateOnly', [{ Effect: 'Allow', Action: 'cloudfront:CreateInvalidation', Resource: DISTRIBUTION_ARN }]);
  authority.register(createOnly);
  const observer = recorder();
  let clock = 1_000_000;
  const purger = new CloudFrontPurger(client(createOnly), DIST, { now: () => clock, observer });
  await purger.purge(['/api/products*'], clock - 10);
  clock += 100;
  await purger.purge(['/api/products*'], clock - 200);
  expect(paths()).toHaveLength(2); // not coalesced: the purge is never lost
  expect(observer.counts).toEqual(['CdnPurgeError']);
  expect(observer.errors).toEqual([
    {
      message: expect.stringContaining('GetInvalidation'),
      details: expect.objectContaining({ errorName: 'AccessDenied', errorMessage: expect.stringContaining('cloudfront:GetInvalidation') }),
    },
  ]);
});

it('retries throttling a bounded number of times, then defers the purge to the next batch, coalesced', async () => {
  await saturate();
  const observer = recorder();
  const purger = new CloudFrontPurger(client(fanOutRole), DIST, { baseDelayMs: 1, maxAttempts: 3, observer });
  requests = 0;
  await expect(purgeCdnFromStream([productChange('p1')], purger)).resolves.toBeUndefined();
  expect(requests).toBe(3);
  expect(observer.counts).toEqual(['CdnPurgeDeferred']);
  expect(observer.warnings).toEqual([expect.stringContaining('next batch')]);
  expect(purger.pendingPaths).toEqual(['/api/products*']);

  // Still throttled: a batch without product changes tries the deferred purge again, keeps it.
  await purgeCdnFromStream([stockChange()], purger);
  expect(purger.pendingPaths).toEqual(['/api/products*']);

  // CloudFront has room again: the next batch sends the deferred path with its own, in one invalidation.
  cf.completeAll();
  await purgeCdnFromStream([record('P#p2', { version: 1, listed: true }, { version: 2, listed: true })], purger);
  expect(paths().slice(15)).toEqual([['/api/products*', '/api/marketplace/products*']]);
  expect(purger.pendingPaths).toEqual([]);
});

describe('the fan-out consumer, with its template environment', () => {
  let connections: ConnectionsRecorder;
  let tables: { shop: string; connections: string };

  beforeAll(async () => {
    connections = await startConnectionsRecorder();
    tables = await testTables('cdn-purge');
  });
  afterAll(() => connections.close());

  it('does not fail (and so does not replay) a batch whose pushes went out when CloudFront throttles the purge', async () => {
    const tenant = uniqueId('cdn').replace(/[^A-Za-z0-9_-]/g, '_');
    const connectionId = `${uniqueId('c').replace(/[^A-Za-z0-9]/g, '')}=`;
    const db = testDocumentClient();
    const store = new DynamoConnectionStore(db, tables.connections);
    const connection = {
      connectionId,
      tenantId: tenant,
      userId: 'u1',
      permissions: ['products:read'],
      connectedAt: Date.now(),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
      tokenExpiresAt: Math.floor(Date.now() / 1000) + 3600,
    };
    await store.put(connection);
    await store.subscribe(connection, 'product:lamp', messageOrder({ at: Date.now(), messageId: 'm' }, undefined));
    db.destroy();
    await saturate();

    const env = {
      ...resolveVariables(templateVariables(dev.templates.streams, 'FanOut'), {
        SHOP_TABLE_NAME: tables.shop,
        CONNECTIONS_TABLE_NAME: tables.connections,
        WS_MANAGEMENT_ENDPOINT: `${connections.url}/dev`,
        CDN_DISTRIBUTION_ID: DIST,
      }),
      ...runtimeVariables({
        functionName: 'ShopEdge-dev-FanOut',
        region: REGION,
        credentials: credentialsOf(fanOutRole),
        endpoints: { DYNAMODB: dynamoDbEndpoint(), CLOUDFRONT: cf.url },
      }),
    };
    const batch: DynamoDBStreamEvent = { Records: [productChange('lamp', tenant)] };
    const { result, logs } = await inContainer(env, async ({ load, logs }) => {
      const { handler } = await load<{ handler: (e: DynamoDBStreamEvent, c: Context) => Promise<DynamoDBBatchResponse> }>(
        'functions/handlers/streams/fan-out',
      );
      try {
        return { result: await handler(batch, createLambdaContext({ functionName: 'FanOut', timeoutMs: 60_000 })), logs: logs() };
      } finally {
        await (await load<typeof import('../../functions/composition/lifecycle')>('functions/composition/lifecycle')).closeServices();
      }
    });
    expect(result).toEqual({ batchItemFailures: [] });
    expect(connections.posts.filter((p) => p.connectionId === connectionId)).toEqual([
      { connectionId, body: expect.objectContaining({ type: 'product:updated', productId: 'lamp', version: 2 }) },
    ]);
    expect(logs.join('\n')).toContain('TooManyInvalidationsInProgress');
    expect(logs.join('\n')).toContain('"CdnPurgeDeferred"');
  });
});
