/**
 * The @connections endpoint with the IAM hook, through the real ApiGatewayManagementApiClient:
 * execute-api:ManageConnections on the connection's ARN, per verb, and API Gateway's 403s.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { connectionsAuthorizer } from '../../local/aws/connections-iam';
import { IamAuthority, type PrincipalRegistration } from '../../local/aws/iam';
import { createConnectionsEndpoint, type ConnectionsEndpointOptions, type LiveConnection } from '../../local/connections-endpoint';
import { silentLogger } from '../../local/log';
import { ACCOUNT, REGION, credentialsOf, failure, principal, sessionArn } from './support';

const API = 'abc123defg';
const STAGE = 'prod';
const CONNECTION = 'L0SM9cOFvHcCIhw=';
const apiArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API}`;

/** Open connections whose sends and closes are counted instead of going to a socket. */
const sent = new Map<string, string[]>();
const closed: string[] = [];
const open = new Set<string>();

function fakeConnection(id: string): LiveConnection | undefined {
  if (!open.has(id)) return undefined;
  const ws = {
    OPEN: 1,
    readyState: 1,
    send(data: Buffer, _options: unknown, callback: (error?: Error) => void) {
      sent.set(id, [...(sent.get(id) ?? []), data.toString()]);
      callback();
    },
    close() {
      closed.push(id);
      open.delete(id);
    },
  } as unknown as WebSocket;
  return { id, ws, connectedAt: Date.now(), lastActiveAt: Date.now(), sourceIp: '127.0.0.1', userAgent: 'test' };
}

const servers: Server[] = [];
const clients: ApiGatewayManagementApiClient[] = [];

async function endpoint(authorize?: ConnectionsEndpointOptions['authorize']): Promise<string> {
  const connections = createConnectionsEndpoint({
    registry: { get: fakeConnection },
    stage: STAGE,
    logger: silentLogger,
    ...(authorize === undefined ? {} : { authorize }),
  });
  const server = createServer((req, res) => {
    connections.handle(req, res).catch(() => res.writeHead(500).end());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/${STAGE}`;
}

let url: string;
let authority: IamAuthority;
let notifier: PrincipalRegistration;
let postOnly: PrincipalRegistration;

function management(p: PrincipalRegistration, at = url): ApiGatewayManagementApiClient {
  const c = new ApiGatewayManagementApiClient({ endpoint: at, region: REGION, credentials: credentialsOf(p), maxAttempts: 1 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  authority = new IamAuthority();
  url = await endpoint(connectionsAuthorizer({ authority, region: REGION, accountId: ACCOUNT, apiId: API }));
  // The realtime stack's ManageConnections policy: this API, this stage, any verb, any connection.
  notifier = principal('Notifier', [
    { Effect: 'Allow', Action: 'execute-api:ManageConnections', Resource: `${apiArn}/${STAGE}/*/@connections/*` },
  ]);
  postOnly = principal('PostOnly', [
    { Effect: 'Allow', Action: 'execute-api:ManageConnections', Resource: `${apiArn}/${STAGE}/POST/@connections/*` },
  ]);
  authority.register(notifier);
  authority.register(postOnly);
});

beforeEach(() => {
  sent.clear();
  closed.length = 0;
  open.clear();
  open.add(CONNECTION);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

it('serves POST, GET and DELETE to a role granted ManageConnections on the stage', async () => {
  await management(notifier).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'hello' }));
  expect(sent.get(CONNECTION)).toEqual(['hello']);
  expect((await management(notifier).send(new GetConnectionCommand({ ConnectionId: CONNECTION }))).Identity?.SourceIp).toBe('127.0.0.1');
  await management(notifier).send(new DeleteConnectionCommand({ ConnectionId: CONNECTION }));
  expect(closed).toEqual([CONNECTION]);
  // Authorized, then the connection is looked up: gone is still 410.
  await expect(management(notifier).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'late' }))).rejects.toBeInstanceOf(
    GoneException,
  );
});

it('checks each verb on its own ARN: a POST-only grant cannot read or close a connection', async () => {
  await management(postOnly).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'x' }));
  expect(await failure(management(postOnly).send(new GetConnectionCommand({ ConnectionId: CONNECTION })))).toEqual({
    name: 'AccessDeniedException',
    status: 403,
    message: `User: ${sessionArn(postOnly)} is not authorized to perform: execute-api:ManageConnections on resource: ${apiArn}/${STAGE}/GET/@connections/${CONNECTION} because no identity-based policy allows the execute-api:ManageConnections action`,
  });
  expect((await failure(management(postOnly).send(new DeleteConnectionCommand({ ConnectionId: CONNECTION })))).name).toBe(
    'AccessDeniedException',
  );
  expect(closed).toEqual([]);
});

it('refuses a role without the grant, and delivers nothing', async () => {
  const other = principal('OtherApi', [
    { Effect: 'Allow', Action: 'execute-api:ManageConnections', Resource: `arn:aws:execute-api:${REGION}:${ACCOUNT}:otherapi/${STAGE}/*` },
  ]);
  authority.register(other);
  const denied = await failure(management(other).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'x' })));
  expect(denied.name).toBe('AccessDeniedException');
  expect(denied.message).toContain(`on resource: ${apiArn}/${STAGE}/POST/@connections/${CONNECTION} because`);
  expect(sent.size).toBe(0);
});

it('refuses an unknown key (UnrecognizedClientException), a bad signature and an unsigned call, all 403', async () => {
  expect(
    await failure(management(principal('Stranger', [])).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'x' }))),
  ).toEqual({
    name: 'UnrecognizedClientException',
    status: 403,
    message: 'The security token included in the request is invalid.',
  });
  expect(
    (await failure(management({ ...notifier, secretAccessKey: 'wrong' }).send(new GetConnectionCommand({ ConnectionId: CONNECTION }))))
      .name,
  ).toBe('InvalidSignatureException');
  const unsigned = await fetch(`${url}/@connections/${encodeURIComponent(CONNECTION)}`, { method: 'POST', body: 'x' });
  expect(unsigned.status).toBe(403);
  expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });
  expect(sent.size).toBe(0);
});

it('without the hook, serves any caller as before (source mode)', async () => {
  const plain = await endpoint();
  await management(principal('Anyone', []), plain).send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'open' }));
  expect(sent.get(CONNECTION)).toEqual(['open']);
});
