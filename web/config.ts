/**
 * What the page reads from /assets/config.json. The local stack serves it (with dev tokens);
 * the CDK app writes it next to the page with the BucketDeployment (no dev tokens there: the
 * user pastes a token).
 */
export interface PageConfig {
  /** Base URL of the REST API; '' means the page's own origin (the CloudFront distribution). */
  readonly apiBaseUrl: string;
  /** The WebSocket URL (ws://127.0.0.1:3001 locally, wss://…/<stage> in AWS). */
  readonly wsUrl: string;
  /** Local stack only: GET it for {tenant: token}. Absent in production. */
  readonly devTokensUrl?: string;
}

/** The page's files are served under this prefix (the CDN's /assets/* behaviour). */
export const ASSETS_PREFIX = '/assets/';

/** The files with stable names: never immutable (every other file has a content hash in its name). */
export const ENTRY_FILES = ['index.html', 'config.json'] as const;
