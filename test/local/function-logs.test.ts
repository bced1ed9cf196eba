/**
 * The handlers' own log lines in the local stack, where every function runs in one process and
 * shares the Powertools Logger: each line names the function (and request) that wrote it, however
 * invocations of different functions interleave.
 */
import type { APIGatewayProxyEvent, DynamoDBStreamEvent } from 'aws-lambda';
import type { AppServices } from '../../functions/app';
import { resetConfig } from '../../functions/shared/config';
import { invoke } from '../../local/lambda-context';

// The logger takes its level from the environment when it is created (and every warm invocation
// goes back to it), so the handlers' modules are loaded after this is set.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
let logger: (typeof import('../../functions/shared/observability'))['logger'];
let restRoute: (typeof import('../../functions/http/rest-route'))['restRoute'];
let setAppServices: (typeof import('../../functions/app'))['setAppServices'];
let invalidateHandler: (typeof import('../../functions/handlers/streams/invalidate'))['handler'];
beforeAll(async () => {
  ({ logger } = await import('../../functions/shared/observability'));
  ({ restRoute } = await import('../../functions/http/rest-route'));
  ({ setAppServices } = await import('../../functions/app'));
  ({ handler: invalidateHandler } = await import('../../functions/handlers/streams/invalidate'));
});

type LogLine = Record<string, unknown> & { message: string; function_name?: string; function_request_id?: string };

const savedEnv = { ...process.env };
let lines: LogLine[] = [];

/** Powertools writes one JSON object per line to stdout (INFO and below) or stderr (WARN and above). */
function capture(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: string) => boolean;
  jest.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => {
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
      if (text !== '') write(`${text}\n`);
    }
    return true;
  }) as typeof stream.write);
}

beforeAll(() => {
  capture(process.stdout);
  capture(process.stderr);
});

afterAll(() => {
  jest.restoreAllMocks();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
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
  // The routes below touch no service: none is built.
  beforeEach(() => {
    lines = [];
    setAppServices({} as AppServices);
  });
  afterEach(() => setAppServices(undefined));

  it('name the function that wrote them, whichever function set its context last', async () => {
    // The cache of the stream consumer cannot invalidate: it warns that the batch will be retried.
    setAppServices({ cache: { invalidate: () => Promise.resolve(false) } } as unknown as AppServices);
    let started!: () => void;
    let release!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = restRoute('Health', async () => {
      started();
      await gate;
      logger.warn('slow: after the gate');
      return { data: 'slow' };
    });
    const quick = restRoute('Health', async () => {
      logger.warn('quick');
      return { data: 'quick' };
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
      restRoute('Health', async () => {
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
