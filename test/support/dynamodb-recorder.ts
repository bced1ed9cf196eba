/**
 * A recording pass-through in front of DynamoDB Local, for the source mode of the stack under
 * test: the handlers (in the test's process) are pointed at it, and every request they send is
 * forwarded unchanged and recorded (operation and body), so a suite can assert "no DynamoDB call"
 * the same way in both modes (as deployed, the local DynamoDB endpoint records the calls itself).
 * Bounded: the newest MAX_KEPT requests are kept.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedDynamoDbCall {
  readonly at: number;
  /** DynamoDB's operation name (GetItem, Query, ...), from X-Amz-Target. */
  readonly operation: string;
  /** dynamodb, or streams for the DynamoDB Streams API. */
  readonly api: 'dynamodb' | 'streams';
  /** The request body as sent. */
  readonly body: string;
}

export interface DynamoDbRecorder {
  readonly url: string;
  calls(): readonly RecordedDynamoDbCall[];
  close(): Promise<void>;
}

const MAX_KEPT = 20_000;
const UPSTREAM_TIMEOUT_MS = 10_000;

export async function startDynamoDbRecorder(upstream: string): Promise<DynamoDbRecorder> {
  const target = new URL(upstream);
  const calls: RecordedDynamoDbCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      const [service = '', operation = ''] = amzTarget.split('.');
      calls.push({
        at: Date.now(),
        operation,
        api: service.startsWith('DynamoDBStreams') ? 'streams' : 'dynamodb',
        body: body.toString('utf8'),
      });
      if (calls.length > MAX_KEPT) calls.splice(0, calls.length - MAX_KEPT);
      const forwarded = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          timeout: UPSTREAM_TIMEOUT_MS,
        },
        (upstreamResponse) => {
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(res);
        },
      );
      forwarded.on('timeout', () => forwarded.destroy(new Error(`DynamoDB Local did not answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
      forwarded.on('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    calls: () => calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
