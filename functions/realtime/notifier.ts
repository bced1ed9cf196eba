/**
 * Posting to WebSocket connections through the API Gateway Management API. One client per
 * endpoint per container; timeouts on every call; throttling retried with backoff and full
 * jitter; a gone connection (410) is an answer, not a failure.
 */
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { errorName, httpStatusOf } from '../shared/errors';
import type { AttemptResult, ConnectionNotifier, PostResult } from './ports';
import { fullJitter, sleep } from '../shared/retry';

// The port (./ports.ts), re-exported for the modules that still import it from here.
export type { AttemptResult, ConnectionNotifier, PostResult } from './ports';

/** API Gateway's WebSocket message limit. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

export interface ManagementNotifierOptions {
  readonly endpoint: string;
  /** @default 5 */
  readonly maxAttempts?: number;
  /** @default 50 */
  readonly baseDelayMs?: number;
  /** @default 3000 */
  readonly timeoutMs?: number;
}

function isGone(error: unknown): boolean {
  return errorName(error) === 'GoneException' || httpStatusOf(error) === 410;
}

function isThrottled(error: unknown): boolean {
  const name = errorName(error);
  return (
    name === 'LimitExceededException' ||
    name === 'TooManyRequestsException' ||
    name === 'ThrottlingException' ||
    httpStatusOf(error) === 429
  );
}

export class ManagementApiNotifier implements ConnectionNotifier {
  private readonly client: ApiGatewayManagementApiClient;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;

  constructor(options: ManagementNotifierOptions) {
    const timeout = options.timeoutMs ?? 3000;
    this.client = new ApiGatewayManagementApiClient({
      endpoint: options.endpoint,
      // Throttling is retried below with our own backoff; the SDK retries nothing else either.
      maxAttempts: 1,
      // Options, not a NodeHttpHandler of our own: the SDK builds its handler (a second copy of
      // @smithy/node-http-handler in the bundle would cost init time for nothing).
      requestHandler: {
        connectionTimeout: Math.min(1000, timeout),
        requestTimeout: timeout,
        throwOnRequestTimeout: true,
      },
    });
    this.maxAttempts = options.maxAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 50;
  }

  async post(connectionId: string, message: unknown): Promise<PostResult> {
    const Data = Buffer.from(JSON.stringify(message));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data }));
        return 'sent';
      } catch (error) {
        if (isGone(error)) return 'gone';
        if (!isThrottled(error) || attempt >= this.maxAttempts) throw error;
        await sleep(fullJitter(attempt - 1, this.baseDelayMs));
      }
    }
  }

  async attempt(connectionId: string, message: unknown): Promise<AttemptResult> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(message)) }));
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      if (isThrottled(error)) return 'throttled';
      throw error;
    }
  }

  async disconnect(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }
}

const notifiers = new Map<string, ManagementApiNotifier>();

/** One notifier per endpoint per container (a container serves one API, so this stays tiny). */
export function notifierFor(endpoint: string): ManagementApiNotifier {
  let notifier = notifiers.get(endpoint);
  if (!notifier) {
    if (notifiers.size >= 8) notifiers.clear();
    notifier = new ManagementApiNotifier({ endpoint });
    notifiers.set(endpoint, notifier);
  }
  return notifier;
}
