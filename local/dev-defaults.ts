/**
 * The local stack's documented defaults: what `npm start`, `npm run token` and the tests use when
 * the environment says nothing. Never used in AWS (the deployed stack reads a real secret).
 */

/**
 * The development JWT secret (HS256), used when JWT_SECRET is unset. It is public on purpose:
 * tokens signed with it are only accepted by a local stack that also runs without JWT_SECRET.
 */
export const DEV_JWT_SECRET = 'shop-edge-local-development-secret-not-for-production';
export const DEV_JWT_ISSUER = 'shop-edge-local';
/** The development key page cursors are signed with, used when CURSOR_KEY is unset. Public too. */
export const DEV_CURSOR_KEY = 'shop-edge-local-development-cursor-key-not-for-production';
export const DEV_JWT_AUDIENCE = 'shop-edge';

export const DEFAULT_REST_PORT = 3000;
export const DEFAULT_WS_PORT = 3001;
export const DEFAULT_HOST = '127.0.0.1';
/** API Gateway stage name of the local stack (`/local/@connections/...`). */
export const DEFAULT_STAGE = 'local';
export const DEFAULT_REGION = 'us-east-1';
/** Fake account id in ARNs (API Gateway's and Lambda's). */
export const LOCAL_ACCOUNT_ID = '123456789012';
export const LOCAL_API_ID = 'local';
export const LOCAL_WS_API_ID = 'localws';

/** Physical table names of the local stack (override with SHOP_TABLE_NAME, CONNECTIONS_TABLE_NAME). */
export const DEFAULT_TABLE_NAMES = { shop: 'shop-edge-local-shop', connections: 'shop-edge-local-connections' } as const;

/** Fake credentials: the AWS SDK signs every request, DynamoDB Local and the local fronts ignore it. */
export const FAKE_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** JWT settings from the environment, with the dev defaults above. */
export function jwtSettings(env: NodeJS.ProcessEnv = process.env): { secret: string; issuer: string; audience: string } {
  return {
    secret: env.JWT_SECRET || DEV_JWT_SECRET,
    issuer: env.JWT_ISSUER || DEV_JWT_ISSUER,
    audience: env.JWT_AUDIENCE || DEV_JWT_AUDIENCE,
  };
}
