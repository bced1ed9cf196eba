/**
 * The handlers' own log lines in the local stack, where every function runs in one process and
 * shares the Powertools Logger: each line names the function (and request) that wrote it, however
 * invocations of different functions interleave; and seeding the demo data warns of nothing.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, DynamoDBStreamEvent } from 'aws-lambda';
import type { Redis } from 'ioredis';
import { resetConfig } from '../../functions/shared/config';
import { invoke } from '../../local/lambda-context';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { dynamoDbEndpoint, testDocumentClient, testTables } from '../support';

// The logger takes its level from the environment when it is created (and every warm invocation
// goes back to it), so the handlers' modules are loaded after this is set.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
let logger: (typeof import('../../functions/shared/observability'))['logger'];
let restRoute: (typeof import('../../functions/http/rest-route'))['restRoute'];
let overrideServices: (typeof import('../../functions/composition/provider'))['overrideServices'];
let invalidateHandler: (typeof import('../../functions/handlers/streams/invalidate'))['handler'];
beforeAll(async () => {
  ({ logger } = await import('../../functions/shared/observability'));
  ({ restRoute } = await import('../../functions/http/rest-route'));
  ({ overrideServices } = await import('../../functions/composition/provider'));
  ({ handler: invalidateHandler } = await import('../../functions/handlers/streams/invalidate'));
});

type LogLine = Record<string, unknown> & { message: string; function_name?: string; function_request_id?: string };

const savedEnv = { ...process.env };
let lines: LogLine[] = [];

/** Powertools writes one JSON object per line to stdout (INFO and below) or stderr (WARN and above). */
function capture(stream: NodeJS.WriteStream): void {
  const original = stream.write.bind(stream);
  jest.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
    for (const text of String(chunk).split('\n')) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed !== null && typeof parsed === 'object' && 'level' in parsed && 'message' in parsed) {
          lines.push(parsed as LogLine);
          continue;
        }
      } catch {
        // not a log line
      }
      if (text !== '') original(`${text}\n`);
    }
    return true;
  });
}

beforeAll(() => {
  capture(process.stdout);
  capture(process.stderr);
});

afterAll(() => {
  jest.restoreAllMocks();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) Reflect.deleteProperty(process.env, key);
  Object.assign(process.env, savedEnv);
  resetConfig();
});

const request = { httpMethod: 'GET', path: '/health', headers: {}, multiValueHeaders: {} } as unknown as APIGatewayProxyEvent;

function productChange(tenantId: string, productId: string): DynamoDBStreamEvent {
  return {
    Records: [
      {
        eventName: 'MODIFY',
        dynamodb: {
          SequenceNumber: '1',
          Keys: { pk: { S: `T#${tenantId}` }, sk: { S: `P#${productId}` } },
          NewImage: { version: { N: '2' }, listed: { BOOL: false } },
          OldImage: { version: { N: '1' }, listed: { BOOL: false } },
        },
      },
    ],
  };
}

describe('log lines of interleaved invocations', () => {
  // The routes below are handed no service: none is built.
  beforeEach(() => {
    lines = [];
  });
  afterEach(() => overrideServices(undefined));

  it('name the function that wrote them, whichever function set its context last', async () => {
    // The cache of the stream consumer cannot invalidate: it warns that the batch will be retried.
    overrideServices({
      cache: { invalidate: () => Promise.resolve(false), invalidateWithOutcome: () => Promise.resolve('failed') },
    });
    let started!: () => void;
    let release!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = restRoute('Health', { services: {} }, async () => {
      started();
      await gate;
      logger.warn('slow: after the gate');
      return { data: 'slow' };
    });
    const quick = restRoute('Health', { services: {} }, () => {
      logger.warn('quick');
      return Promise.resolve({ data: 'quick' });
    });

    const first = invoke(slow, request, { functionName: 'CreateProduct' });
    await running; // CreateProduct's context is set, and it waits
    await invoke(quick, request, { functionName: 'AdjustStock' });
    await invoke(invalidateHandler, productChange('acme', 'espresso-beans'), { functionName: 'Invalidate' });
    release();
    await first;

    const byMessage = Object.fromEntries(lines.map((line) => [line.message, line.function_name]));
    expect(byMessage).toEqual({
      quick: 'shop-edge-local-AdjustStock',
      'cache invalidation will be retried': 'shop-edge-local-Invalidate',
      'slow: after the gate': 'shop-edge-local-CreateProduct',
    });
    // One request id per invocation.
    expect(new Set(lines.map((line) => line.function_request_id)).size).toBe(3);
  });

  it('stay with their function when many invocations of two functions run at once', async () => {
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    const chatty = (name: string) =>
      restRoute('Health', { services: {} }, async () => {
        for (let i = 0; i < 3; i++) {
          await tick();
          logger.warn(`${name} ${i}`);
        }
        return { data: name };
      });
    const [a, b] = [chatty('GetProduct'), chatty('GetOrder')];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? invoke(a, request, { functionName: 'GetProduct' }) : invoke(b, request, { functionName: 'GetOrder' }),
      ),
    );
    expect(lines).toHaveLength(30);
    for (const line of lines) expect(line.function_name).toBe(`shop-edge-local-${line.message.split(' ')[0]}`);
  });
});

describe('the local stack while seeding', () => {
  let stack: LocalStack;
  const read = async (productId: string) => {
    const response = await fetch(`${stack.restUrl}/api/products/${productId}`, {
      headers: { Authorization: `Bearer ${stack.tokens.acme}` },
    });
    return ((await response.json()) as { data: { name: string } }).data;
  };
  /** A writer that knows nothing of the cache (a script, the console): only the stream consumer invalidates. */
  const renameBehindTheApi = async (productId: string, name: string) => {
    const db = testDocumentClient(stack.dynamoDbEndpoint);
    await db.send(
      new UpdateCommand({
        TableName: stack.tableNames.shop,
        Key: { pk: 'T#acme', sk: `P#${productId}` },
        UpdateExpression: 'SET #name = :name, version = version + :one',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':name': name, ':one': 1 },
      }),
    );
    db.destroy();
  };
  const readUntil = async (productId: string, name: string) => {
    let seen = (await read(productId)).name;
    for (let waited = 0; seen !== name && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = (await read(productId)).name;
    }
    return seen;
  };

  beforeAll(async () => {
    lines = [];
    stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      // Its own redis-server, as npm start: the demo tenants' keys stay out of the shared one.
      redis: 'auto',
      tableNames: await testTables('logs'),
      seed: true,
      pollIntervalMs: 100,
    });
    expect(stack.redisSource).toBe('started');
  }, 60_000);
  afterAll(() => stack.stop());

  it('prints no handler warning while the demo data is created and the stream consumers take it in', async () => {
    expect(stack.seedError).toBeUndefined();
    // The stream is read in order: once a change made after the seed has invalidated the cache,
    // the invalidation consumer is through with every seeded change.
    expect((await read('filter-beans')).name).toBe('Filter beans 500 g');
    await renameBehindTheApi('filter-beans', 'Filter beans (renamed)');
    expect(await readUntil('filter-beans', 'Filter beans (renamed)')).toBe('Filter beans (renamed)');
    expect(lines.map(({ level, message, function_name }) => ({ level, message, function_name }))).toEqual([]);
  });

  it('prints no warning when the shared event loop stalls while the stream consumer invalidates', async () => {
    // One process runs every function: another one's import or a burst of work stalls the event
    // loop (50-300 ms measured while seeding). Here: 250 ms, right after the consumer's bump is sent.
    const { sharedRedis } = await import('../../functions/shared/clients/redis');
    const redis = (await sharedRedis()) as Redis;
    const send = redis.sendCommand.bind(redis);
    let armed = false;
    const stall = jest.spyOn(redis, 'sendCommand').mockImplementation((command, stream) => {
      const sent = send(command, stream);
      if (armed && command.args.some((arg) => String(arg).endsWith(':g:p:espresso-beans'))) {
        armed = false;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
      }
      return sent;
    });
    try {
      expect((await read('espresso-beans')).name).toBe('Espresso beans 1 kg'); // cached
      lines = [];
      armed = true;
      await renameBehindTheApi('espresso-beans', 'Espresso beans (renamed)');
      expect(await readUntil('espresso-beans', 'Espresso beans (renamed)')).toBe('Espresso beans (renamed)');
      expect(armed).toBe(false);
    } finally {
      stall.mockRestore();
    }
    expect(lines.map(({ level, message, function_name }) => ({ level, message, function_name }))).toEqual([]);
  });
});
