/**
 * A one-shot Redis command over a raw socket (RESP2), for readiness and cluster checks without
 * a client library's reconnect logic. Not for application use.
 */
import net from 'node:net';

export type RespValue = string | number | null | RespError | RespValue[];

export class RespError extends Error {
  override readonly name = 'RespError';
}

/** Parse one RESP value from buf at offset; undefined when more bytes are needed. */
function parse(buf: Buffer, offset: number): { value: RespValue; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new RespError(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: afterLine };
      if (buf.length < afterLine + len + 2) return undefined;
      return { value: buf.toString('utf8', afterLine, afterLine + len), next: afterLine + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, next);
        if (item === undefined) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/**
 * Send one command and resolve with its reply (a RespError value for -ERR replies); with a
 * password, AUTH goes first on the same connection (a failed AUTH is the reply).
 */
export function respCommand(host: string, port: number, args: readonly string[], timeoutMs = 1000, password?: string): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    let settled = false;
    const socket = net.createConnection({ host, port });
    const finish = (err: Error | undefined, value?: RespValue): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(() => finish(new Error(`${host}:${port} did not answer ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write((password === undefined ? '' : encode(['AUTH', password])) + encode(args)));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      try {
        let parsed = parse(data, 0);
        if (parsed !== undefined && password !== undefined) {
          if (parsed.value instanceof RespError) {
            finish(undefined, parsed.value);
            return;
          }
          parsed = parse(data, parsed.next);
        }
        if (parsed !== undefined) finish(undefined, parsed.value);
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error(`${host}:${port} closed the connection before answering ${args[0]}`)));
  });
}

/** Parse the "key:value" lines of INFO / CLUSTER INFO. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
