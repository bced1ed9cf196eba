/**
 * A configuration error is read by an operator, in a function's log: it must name the environment
 * variable to set or fix (what the template, the README and the console show), not the key of the
 * schema it was parsed into. Was a defect: "Invalid tables configuration: shopTableName: ...".
 */
import { appConfig, authConfig, cacheConfig, cursorConfig, redisConfig, resetConfig, tablesConfig } from '../../functions/shared/config';

const saved = { ...process.env };
const VARIABLES = [
  'SHOP_TABLE_NAME',
  'CONNECTIONS_TABLE_NAME',
  'DYNAMODB_TIMEOUT_MS',
  'REDIS_URL',
  'CACHE_L1_TTL_MS',
  'JWT_SECRET',
  'JWT_JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'CURSOR_KEY',
  'CURSOR_KEY_SECRET_ARN',
];

function withEnvironment(values: Record<string, string>): void {
  process.env = Object.fromEntries(Object.entries(saved).filter(([name]) => !VARIABLES.includes(name)));
  Object.assign(process.env, values);
  resetConfig();
}

afterEach(() => {
  process.env = { ...saved };
  resetConfig();
});

const failure = (read: () => unknown): string => {
  try {
    read();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
};

describe('a configuration error names the environment variable', () => {
  it('a missing variable: "<VARIABLE> is required", for each one missing', () => {
    withEnvironment({});
    const message = failure(tablesConfig);
    expect(message).toContain('SHOP_TABLE_NAME is required');
    expect(message).toContain('CONNECTIONS_TABLE_NAME is required');
    expect(message).not.toMatch(/shopTableName|connectionsTableName/);
    withEnvironment({ JWT_SECRET: 's'.repeat(32) });
    expect(failure(authConfig)).toMatch(/JWT_ISSUER is required.*JWT_AUDIENCE is required/);
  });

  it('a malformed value: the variable and what is wrong with it', () => {
    withEnvironment({ SHOP_TABLE_NAME: 'shop', CONNECTIONS_TABLE_NAME: 'connections', DYNAMODB_TIMEOUT_MS: 'soon' });
    expect(failure(tablesConfig)).toMatch(/DYNAMODB_TIMEOUT_MS: /);
    withEnvironment({ CACHE_L1_TTL_MS: '-1' });
    expect(failure(cacheConfig)).toMatch(/CACHE_L1_TTL_MS: /);
    expect(failure(cacheConfig)).not.toContain('l1TtlMs');
    withEnvironment({ REDIS_URL: 'http://cache:6379' });
    expect(failure(redisConfig)).toBe('Invalid redis configuration: REDIS_URL must start with redis:// or rediss://');
  });

  it('a rule over two variables names both', () => {
    withEnvironment({});
    expect(failure(cursorConfig)).toBe('Invalid cursor configuration: set CURSOR_KEY_SECRET_ARN (AWS) or CURSOR_KEY (local)');
    withEnvironment({ CURSOR_KEY: 'short' });
    expect(failure(cursorConfig)).toBe('Invalid cursor configuration: CURSOR_KEY must be at least 32 characters');
  });

  it('a valid environment parses as before', () => {
    withEnvironment({ SHOP_TABLE_NAME: 'shop', CONNECTIONS_TABLE_NAME: 'connections' });
    expect(tablesConfig()).toMatchObject({ shopTableName: 'shop', connectionsTableName: 'connections', timeoutMs: 1000 });
  });
});

describe("a tenant's WebSocket connection limit", () => {
  it('is 10,000 unless WS_MAX_CONNECTIONS_PER_TENANT says otherwise, and a bad value names the variable', () => {
    withEnvironment({});
    delete process.env.WS_MAX_CONNECTIONS_PER_TENANT;
    resetConfig();
    expect(appConfig().wsMaxConnectionsPerTenant).toBe(10_000);
    withEnvironment({ WS_MAX_CONNECTIONS_PER_TENANT: '20' });
    expect(appConfig().wsMaxConnectionsPerTenant).toBe(20);
    withEnvironment({ WS_MAX_CONNECTIONS_PER_TENANT: '0' });
    expect(failure(() => appConfig())).toMatch(/WS_MAX_CONNECTIONS_PER_TENANT/);
  });
});
