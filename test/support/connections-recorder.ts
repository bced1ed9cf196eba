/** A recording @connections endpoint (API Gateway's Management API): every post answered 200. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedPost {
  readonly connectionId: string;
  readonly body: unknown;
}

export interface ConnectionsRecorder {
  /** http://127.0.0.1:<port>; a management endpoint is this plus /<stage>. */
  readonly url: string;
  /** Every post, in the order received. */
  readonly posts: RecordedPost[];
  close(): Promise<void>;
}

export async function startConnectionsRecorder(): Promise<ConnectionsRecorder> {
  const posts: RecordedPost[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = decodeURIComponent(/\/@connections\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '');
      if (req.method === 'POST') posts.push({ connectionId: id, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
