import { App } from 'aws-cdk-lib';
import { loadConfig } from '../../lib/config';
import { PROD_CONTEXT, contextWith, tempOutdir } from './support';

const configOf = (overrides: Record<string, unknown> = {}) =>
  loadConfig(new App({ context: contextWith(overrides), outdir: tempOutdir() }).node);

describe('deployment configuration (cdk.json context, -c env=...)', () => {
  it('defaults to the dev profile: one shard, one replica, a small node, single AZ, no NAT', () => {
    const config = configOf();

    expect(config.envName).toBe('dev');
    expect(config.stackPrefix).toBe('ShopEdge-dev');
    expect(config.cache).toMatchObject({ shards: 1, replicasPerShard: 1, multiAz: false, nodeType: 'cache.t4g.small' });
    expect(config.network.natGateways).toBe(0);
    expect(config.deployEnv).toBeUndefined();
  });

  it('selects prod: 3 shards x 1 replica of cache.r7g.large, Multi-AZ, 7-day snapshots with windows', () => {
    const config = configOf(PROD_CONTEXT);

    expect(config.cache).toMatchObject({
      nodeType: 'cache.r7g.large',
      shards: 3,
      replicasPerShard: 1,
      multiAz: true,
      snapshotRetentionDays: 7,
      snapshotWindow: expect.stringMatching(/^\d\d:\d\d-\d\d:\d\d$/),
      maintenanceWindow: expect.stringMatching(/^[a-z]{3}:/),
    });
    expect(config.cache.port).not.toBe(6379);
    expect(config.retainData).toBe(true);
  });

  it('takes flat -c overrides (strings, as the CLI passes them) over the profile', () => {
    const config = configOf({ cacheShards: '2', cacheNodeType: 'cache.r7g.xlarge', natGateways: '1', alarmEmail: 'ops@example.com' });

    expect(config.cache.shards).toBe(2);
    expect(config.cache.nodeType).toBe('cache.r7g.xlarge');
    expect(config.network.natGateways).toBe(1);
    expect(config.alarmEmail).toBe('ops@example.com');
  });

  it("limits a tenant's WebSocket connections to 10,000 unless the profile or -c wsMaxConnectionsPerTenant says otherwise", () => {
    expect(configOf().wsMaxConnectionsPerTenant).toBe(10_000);
    expect(configOf({ wsMaxConnectionsPerTenant: '20' }).wsMaxConnectionsPerTenant).toBe(20);
    expect(() => configOf({ wsMaxConnectionsPerTenant: '0' })).toThrow(/wsMaxConnectionsPerTenant/);
  });

  it('refuses prod without the JWT issuer settings (no placeholder reaches production)', () => {
    expect(() => configOf({ env: 'prod' })).toThrow(/JWT settings missing/);
  });

  it('refuses prod without a web ACL for the distribution: prod only answers through CloudFront', () => {
    const { webAclArn: _unused, ...withoutAcl } = PROD_CONTEXT;
    expect(() => configOf(withoutAcl)).toThrow(
      /Invalid configuration for environment "prod":\n- webAclArn is required: prod only answers requests that come through CloudFront \(cdnOnly\), so the distribution needs a web ACL; pass -c webAclArn=arn:aws:wafv2:us-east-1:/,
    );
    expect(configOf(PROD_CONTEXT)).toMatchObject({ cdnOnly: true, webAclArn: PROD_CONTEXT.webAclArn });
    // dev is reachable without the distribution and needs none.
    expect(configOf()).toMatchObject({ cdnOnly: false, webAclArn: undefined });
  });

  it('refuses a web ACL ARN that is not a CLOUDFRONT-scoped one (a regional ACL cannot be attached to a distribution)', () => {
    const regional = 'arn:aws:wafv2:eu-central-1:123456789012:regional/webacl/shop-edge/0a1b2c3d';
    expect(() => configOf({ ...PROD_CONTEXT, webAclArn: regional })).toThrow(/webAclArn must be a CLOUDFRONT-scoped WAFv2 web ACL/);
    expect(() => configOf({ webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/ipset/x/1' })).toThrow(/CLOUDFRONT-scoped/);
  });

  it('refuses an unknown environment and an invalid value with a message naming it', () => {
    expect(() => configOf({ env: 'staging' })).toThrow(/Unknown environment "staging"/);
    expect(() => configOf({ cacheShards: '0' })).toThrow(/shards/);
    expect(() => configOf({ jwtJwksUrl: 'http://insecure.example.com/jwks' })).toThrow(/jwksUrl/);
  });

  it('needs account and region together, and a certificate with a custom domain', () => {
    expect(() => configOf({ account: '123456789012' })).toThrow(/account and region go together/);
    expect(() => configOf({ domainName: 'shop.example.com' })).toThrow(/domainName and certificateArn go together/);
    expect(configOf({ account: '123456789012', region: 'eu-central-1' }).deployEnv).toEqual({
      account: '123456789012',
      region: 'eu-central-1',
    });
  });

  it('refuses a certificate outside us-east-1 at synthesis: CloudFront only takes certificates from there', () => {
    const custom = (certificateArn: string) => ({ domainName: 'shop.example.com', certificateArn });
    expect(() => configOf(custom('arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d'))).toThrow(
      /certificateArn is in eu-central-1: CloudFront only uses ACM certificates from us-east-1/,
    );
    expect(() => configOf(custom('arn:aws:iam::123456789012:server-certificate/shop'))).toThrow(/must be an ACM certificate ARN/);
    expect(configOf(custom('arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d')).customDomain).toEqual(
      custom('arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d'),
    );
  });

  it('reserves stream consumer concurrency in prod only, and keeps earlier exports only when asked', () => {
    expect(configOf(PROD_CONTEXT).streamConsumerConcurrency).toBe(10);
    expect(configOf().streamConsumerConcurrency).toBe(0);
    expect(configOf().legacyExports).toBe(false);
    expect(configOf({ legacyExports: 'true' }).legacyExports).toBe(true);
    expect(() => configOf({ legacyExports: 'yes' })).toThrow(/legacyExports must be true or false/);
  });
});
