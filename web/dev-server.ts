/**
 * What the local stack's REST front serves besides the route table (local only, never in the
 * route table or the CDK app):
 *   GET /                     the page (rebuilt on every load, so edits show on reload)
 *   GET /assets/index.html    the same page, at its deployed address
 *   GET /assets/config.json   {apiBaseUrl: '' (same origin), wsUrl, devTokensUrl}
 *   GET /assets/<hashed>      the page's files, immutable as on the CDN
 *   GET /openapi.json         the OpenAPI document of the route table
 *   GET /dev/tokens           {tenant: token} for the demo tenants, loopback callers only
 * The page is served with the Content-Security-Policy it gets in AWS (web/csp.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildPage, type PageFile } from './build';
import { ASSETS_PREFIX, type PageConfig } from './config';
import { pageCsp } from './csp';

export interface WebHandlerOptions {
  /** The WebSocket front's URL (ws://host:port). */
  readonly wsUrl: string;
  /** Dev tokens by tenant; unset: no /dev/tokens (the page then asks for a token). */
  readonly devTokens?: () => Promise<Record<string, string>>;
  /** The OpenAPI document, given the REST front's URL as the request reached it. */
  readonly openApi?: (serverUrl: string) => unknown;
  /** Called when the page does not build. */
  readonly onError?: (message: string) => void;
}

/** Answers the request and returns true, or returns false (the route table takes it). */
export type ExtraHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

export function createWebHandler(options: WebHandlerOptions): ExtraHandler {
  /** Every file of every build of this process: a page loaded before a rebuild still finds its files. */
  const built = new Map<string, PageFile>();
  const csp = pageCsp(options.wsUrl);

  const send = (
    res: ServerResponse,
    req: IncomingMessage,
    status: number,
    type: string,
    body: Buffer | string,
    headers: Record<string, string> = {},
  ) => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
  const json = (res: ServerResponse, req: IncomingMessage, status: number, value: unknown, cacheControl: string) =>
    send(res, req, status, 'application/json; charset=utf-8', JSON.stringify(value, null, 2), { 'Cache-Control': cacheControl });

  const page = (res: ServerResponse, req: IncomingMessage) => {
    let index: PageFile;
    try {
      const build = buildPage();
      for (const file of build.files.values()) built.set(file.name, file);
      index = build.index;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      options.onError?.(`the page does not build: ${message}`);
      send(res, req, 500, 'text/plain; charset=utf-8', `The page does not build:\n\n${message}\n`, { 'Cache-Control': 'no-store' });
      return;
    }
    send(res, req, 200, index.contentType, index.contents, {
      'Cache-Control': REVALIDATE,
      'Content-Security-Policy': csp,
      'X-Frame-Options': 'DENY',
    });
  };

  return async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = url.pathname;
    if (path === '/' || path === `${ASSETS_PREFIX}index.html`) {
      page(res, req);
      return true;
    }
    if (path === `${ASSETS_PREFIX}config.json`) {
      const config: PageConfig = { apiBaseUrl: '', wsUrl: options.wsUrl, ...(options.devTokens ? { devTokensUrl: '/dev/tokens' } : {}) };
      json(res, req, 200, config, REVALIDATE);
      return true;
    }
    if (path.startsWith(ASSETS_PREFIX)) {
      const file = built.get(path.slice(ASSETS_PREFIX.length));
      if (!file) json(res, req, 404, { error: { code: 'NOT_FOUND', message: `no asset ${path} (load / first)` } }, 'no-store');
      else send(res, req, 200, file.contentType, file.contents, { 'Cache-Control': IMMUTABLE });
      return true;
    }
    if (path === '/openapi.json' && options.openApi) {
      json(res, req, 200, options.openApi(`http://${req.headers.host ?? url.host}`), REVALIDATE);
      return true;
    }
    if (path === '/dev/tokens' && options.devTokens) {
      if (!isLoopback(req.socket.remoteAddress)) {
        json(res, req, 403, { error: { code: 'FORBIDDEN', message: 'dev tokens are for this machine only' } }, 'no-store');
      } else {
        json(res, req, 200, await options.devTokens(), 'no-store');
      }
      return true;
    }
    return false;
  };
}

function isLoopback(address: string | undefined): boolean {
  return address === '::1' || address?.startsWith('127.') === true || address?.startsWith('::ffff:127.') === true;
}
