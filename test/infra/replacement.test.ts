/**
 * Every documented setting (docs/deploy.md: the context keys and the profile settings) can change
 * on a deployed environment. The app is synthesized before and after each change, and the update
 * CloudFormation would run is worked out with @aws-cdk/aws-service-spec's replacement data
 * (test/infra/replacement.ts): no value another stack imports through an export may change, or the
 * producer's update fails with "Cannot update export ... as it is in use". What a setting replaces
 * (the cache's replication group, for its port or replica count) reaches the other stacks through
 * SSM parameters, read when they deploy; each case names what it replaces, as the guide does.
 */
import { App, type Stack } from 'aws-cdk-lib';
import { loadConfig } from '../../lib/config';
import { buildShopEdge } from '../../lib/shop-edge';
import { PROD_CONTEXT, buildApp, contextWith, profilePatch, tempOutdir } from './support';
import { analyseUpdate, importsOf, specDatabase, type Assembly, type CfnTemplate } from './replacement';

jest.setTimeout(240_000);

const DEV = {};
const PROD = PROD_CONTEXT;

/**
 * The templates of the app for that context. cdk-nag and CloudFormation's template rules are left
 * out (stacks.test.ts runs both on these apps; they take most of a synthesis): this is about updates.
 */
function assemblyOf(context: Record<string, unknown>): Assembly {
  const app = new App({ context: contextWith({ ...context, '@aws-cdk/core:validateAgainstDefaultRules': false }), outdir: tempOutdir() });
  buildShopEdge(app, loadConfig(app.node));
  const assembly = app.synth();
  return Object.fromEntries(assembly.stacks.map((stack) => [stack.stackName, stack.template as CfnTemplate]));
}

interface SettingChange {
  readonly setting: string;
  readonly base: Record<string, unknown>;
  readonly changed: Record<string, unknown>;
  /** What the update replaces, as <stack concern>/<logical id prefix>: the documented replacements. */
  readonly replaces: readonly string[];
}

const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d';
const WEB_ACL = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop-edge/0a1b2c3d';

/** The settings of docs/deploy.md's table and profile paragraph, each changed on a deployed environment. */
const CHANGES: readonly SettingChange[] = [
  { setting: 'cacheReplicas 1 -> 2', base: PROD, changed: { ...PROD, cacheReplicas: '2' }, replaces: ['Cache/ReplicationGroup'] },
  { setting: 'cacheReplicas 1 -> 0 (dev)', base: DEV, changed: { cacheReplicas: '0' }, replaces: ['Cache/ReplicationGroup'] },
  // NumNodeGroups is an online resharding in cluster mode, but the specification says "maybe": taken as a replacement.
  { setting: 'cacheShards 3 -> 4', base: PROD, changed: { ...PROD, cacheShards: '4' }, replaces: ['Cache/ReplicationGroup'] },
  { setting: 'cacheNodeType', base: PROD, changed: { ...PROD, cacheNodeType: 'cache.r7g.xlarge' }, replaces: [] },
  {
    setting: 'cache.port (profile)',
    base: PROD,
    changed: { ...PROD, ...profilePatch('prod', { cache: { port: 6390 } }) },
    // The security group rules of the port are new resources (their logical ids hold the port).
    replaces: ['Cache/ReplicationGroup'],
  },
  {
    setting: 'cache.engineVersion (profile, minor)',
    base: PROD,
    changed: { ...PROD, ...profilePatch('prod', { cache: { engineVersion: '8.2' } }) },
    replaces: [],
  },
  {
    setting: 'cache.multiAz (profile)',
    base: DEV,
    changed: profilePatch('dev', { cache: { multiAz: true } }),
    replaces: [],
  },
  {
    setting: 'cache snapshots and windows (profile)',
    base: PROD,
    changed: {
      ...PROD,
      ...profilePatch('prod', {
        cache: { snapshotRetentionDays: 14, snapshotWindow: '04:00-05:00', maintenanceWindow: 'sat:05:30-sat:06:30' },
      }),
    },
    replaces: [],
  },
  { setting: 'natGateways 0 -> 1', base: DEV, changed: { natGateways: '1' }, replaces: [] },
  { setting: 'webAclArn (another web ACL)', base: PROD, changed: { ...PROD, webAclArn: WEB_ACL }, replaces: [] },
  // Origin protection switched on for an environment deployed without it.
  // The first and the last deployment of a rotation of the origin secret (docs/deploy.md).
  {
    setting: 'originSecretPreviousVersion (rotating the origin secret)',
    base: PROD,
    changed: { ...PROD, originSecretPreviousVersion: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' },
    replaces: [],
  },
  { setting: 'cdnOnly false -> true', base: { ...PROD, ...profilePatch('prod', { cdnOnly: false }) }, changed: PROD, replaces: [] },
  {
    setting: 'domainName + certificateArn',
    base: PROD,
    changed: { ...PROD, domainName: 'shop.example.com', certificateArn: CERTIFICATE },
    replaces: [],
  },
  { setting: 'alarmEmail', base: PROD, changed: { ...PROD, alarmEmail: 'ops@example.com' }, replaces: [] },
  {
    setting: 'corsOrigins',
    base: PROD,
    changed: { ...PROD, corsOrigins: 'https://shop.example.com,https://admin.example.com' },
    replaces: [],
  },
  {
    setting: 'jwtIssuer, jwtAudience, jwtJwksUrl',
    base: PROD,
    changed: {
      ...PROD,
      jwtIssuer: 'https://idp.example.org/',
      jwtAudience: 'shop-edge-2',
      jwtJwksUrl: 'https://idp.example.org/.well-known/jwks.json',
    },
    replaces: [],
  },
  {
    setting: 'REST and WebSocket throttling (profile)',
    base: PROD,
    changed: {
      ...PROD,
      ...profilePatch('prod', { api: { rateLimit: 1500, burstLimit: 3000 }, realtime: { rateLimit: 800, burstLimit: 1600 } }),
    },
    replaces: [],
  },
  {
    setting: 'logRetentionDays (profile)',
    base: PROD,
    changed: { ...PROD, ...profilePatch('prod', { logRetentionDays: 180 }) },
    replaces: [],
  },
  { setting: 'retainData (profile)', base: DEV, changed: profilePatch('dev', { retainData: true }), replaces: [] },
  {
    setting: 'streamConsumerConcurrency (profile)',
    base: PROD,
    changed: { ...PROD, ...profilePatch('prod', { streamConsumerConcurrency: 25 }) },
    replaces: [],
  },
];

const assemblies = new Map<string, Assembly>();
const assemblyFor = (context: Record<string, unknown>): Assembly => {
  const key = JSON.stringify(context);
  let assembly = assemblies.get(key);
  if (assembly === undefined) {
    assembly = assemblyOf(context);
    assemblies.set(key, assembly);
  }
  return assembly;
};

beforeAll(() => {
  specDatabase();
});

/** `ShopEdge-prod-Cache/ReplicationGroup` → `Cache/ReplicationGroup`. */
const concern = (replaced: string) => replaced.replace(/^ShopEdge-[a-z]+-/, '');

describe.each(CHANGES)('changing $setting on a deployed environment', (change) => {
  let analysis: ReturnType<typeof analyseUpdate>;
  beforeAll(() => {
    analysis = analyseUpdate(assemblyFor(change.base), assemblyFor(change.changed));
  });

  it('changes no value another stack imports through an export', () => {
    expect(analysis.exportsInUseThatChange).toEqual([]);
    expect(analysis.exportsInUseThatDisappear).toEqual([]);
  });

  it(`replaces ${change.replaces.length === 0 ? 'nothing' : change.replaces.join(', ')}`, () => {
    const replaced = analysis.replaced.map(concern);
    for (const prefix of change.replaces) expect([prefix, replaced.some((r) => r.startsWith(prefix))]).toEqual([prefix, true]);
    expect(replaced.filter((r) => !change.replaces.some((prefix) => r.startsWith(prefix)))).toEqual([]);
  });
});

describe('values a documented setting can replace', () => {
  it('reach the other stacks through SSM parameters, which a replacement updates', () => {
    const analysis = analyseUpdate(assemblyFor(PROD), assemblyFor({ ...PROD, cacheReplicas: '2' }));
    expect(analysis.parametersThatChange).toEqual(
      expect.arrayContaining(['/ShopEdge-prod-Cache/configuration-endpoint/address', '/ShopEdge-prod-Cache/replication-group-id']),
    );
  });

  it('are never imported: the cache endpoint and id, the AUTH secret, the table stream, the REST API id and stage', () => {
    const prod = assemblyFor(PROD);
    const exported = new Map<string, string>();
    for (const template of Object.values(prod)) {
      for (const output of Object.values(template.Outputs ?? {})) {
        if (output.Export !== undefined) exported.set(String(output.Export.Name), JSON.stringify(output.Value));
      }
    }
    const imported = [...new Set(Object.values(prod).flatMap((t) => [...importsOf(t)]))].map((name) => exported.get(name) ?? name);
    for (const replaceable of [
      /"ReplicationGroup"/,
      /"AuthToken[0-9A-F]{8}"/,
      /StreamArn/,
      /"RestApi[0-9A-F]{8}"/,
      /"RestApiDeploymentStage/,
    ]) {
      expect([replaceable.source, imported.filter((value) => replaceable.test(value))]).toEqual([replaceable.source, []]);
    }
  });

  it('keep the exports of the earlier version with -c legacyExports=true, for the upgrade that moves consumers off them', () => {
    // The exports this app made before its consumers read SSM parameters (all in use then).
    const earlier = [
      'ShopEdge-prod-Cache:ExportsOutputFnGetAttReplicationGroupConfigurationEndPointAddress04A53D52',
      'ShopEdge-prod-Cache:ExportsOutputFnGetAttReplicationGroupConfigurationEndPointPortCD0B83CE',
      'ShopEdge-prod-Cache:ExportsOutputRefAuthToken9D20A5AFCFAAD756',
      'ShopEdge-prod-Cache:ExportsOutputRefReplicationGroupB2C62886',
      'ShopEdge-prod-Data:ExportsOutputFnGetAttShop563325D0StreamArn92FF8C95',
      'ShopEdge-prod-Api:ExportsOutputRefRestApi0C43BF4B00053745',
      'ShopEdge-prod-Api:ExportsOutputRefRestApiDeploymentStageprod3855DE66D0316BB8',
    ];
    const exportNames = (assembly: Assembly) =>
      Object.values(assembly).flatMap((t) => Object.values(t.Outputs ?? {}).flatMap((o) => (o.Export ? [String(o.Export.Name)] : [])));
    expect(exportNames(assemblyFor({ ...PROD, legacyExports: 'true' }))).toEqual(expect.arrayContaining(earlier));
    expect(exportNames(assemblyFor(PROD)).filter((name) => earlier.includes(name))).toEqual([]);
  });

  it('order the stacks as before: a consumer deploys after the stack whose parameter it reads', () => {
    const { stacks } = buildApp(PROD);
    const dependsOn = (consumer: Stack, producer: Stack) => consumer.dependencies.includes(producer);
    expect(dependsOn(stacks.api, stacks.cache)).toBe(true);
    expect(dependsOn(stacks.streams, stacks.data)).toBe(true);
    expect(dependsOn(stacks.streams, stacks.cache)).toBe(true);
    expect(dependsOn(stacks.cdn, stacks.api)).toBe(true);
    expect(dependsOn(stacks.monitoring, stacks.cache)).toBe(true);
  });
});
