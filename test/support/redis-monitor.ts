/**
 * Redis MONITOR on a plain socket, for tests that check which keys a request touched.
 *
 * Not ioredis' monitor(): it marks its connection as monitoring in a promise continuation after
 * MONITOR's +OK, so when the server streams other clients' commands in the same read as that +OK
 * (the shared server is busy with the other test files), the parser takes them for replies nobody
 * waits for and fails with "Command queue state error", rejecting monitor() itself.
 */
import net from 'node:net';

export interface RedisMonitor {
  /** Every command seen since the monitor attached, as "cmd arg1 arg2 ...". */
  lines(): string[];
  stop(): void;
}

/** The arguments of one MONITOR line: `+<time> [<db> <client>] "cmd" "arg" ...`, unescaped. */
function argumentsOf(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(["\\])/g, '$1'));
}

/**
 * Resolves once the server has answered MONITOR: every command it runs from then on is recorded.
 * With a password, AUTH is sent first (a cache node as deployed, on its plain admin port).
 */
export function monitorRedis(host: string, port: number, timeoutMs = 2000, password?: string): Promise<RedisMonitor> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    let buffered = '';
    let attached = false;
    let okToWait = password === undefined ? 1 : 2;
    const socket = net.createConnection({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`MONITOR on ${host}:${port} not answered within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    const bulk = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.once('connect', () => socket.write(`${password === undefined ? '' : bulk(['AUTH', password])}MONITOR\r\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!attached) {
          if (line !== '+OK') {
            clearTimeout(timer);
            socket.destroy();
            reject(new Error(`MONITOR answered ${line}`));
            return;
          }
          okToWait -= 1;
          if (okToWait > 0) continue;
          attached = true;
          clearTimeout(timer);
          resolve({ lines: () => [...seen], stop: () => socket.destroy() });
          continue;
        }
        seen.push(argumentsOf(line).join(' '));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (!attached) reject(error);
    });
  });
}
