/**
 * Cache: a Valkey (Redis OSS compatible) replication group in cluster mode, encrypted at rest and
 * in transit, authenticated with an AUTH token generated in Secrets Manager (the template holds
 * only a dynamic reference), on a non-default port, in the isolated subnets.
 *
 * A replication group is replaced when its port or replica count changes (and possibly its shard
 * count), which gives it a new id and endpoint: those, and the AUTH secret's ARN, reach the other
 * stacks through SSM parameters (SharedValue), never through exports that would block the update.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct, IConstruct } from 'constructs';
import type { CacheSettings } from '../config';
import { SharedValue, type DeployTimeValue } from '../constructs/shared-value';
import type { RedisBinding } from '../constructs/shop-function';
import { acknowledge } from '../nag';

export interface CacheStackProps extends StackProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Admits the cache port from the cache clients only (see NetworkStack). */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Carried by the functions that talk to the cache. */
  readonly clientSecurityGroup: ec2.ISecurityGroup;
  readonly settings: CacheSettings;
  /** Snapshot on deletion and retain the AUTH token (prod). */
  readonly retainData: boolean;
  readonly logRetention: RetentionDays;
  /** Also export the shared values as an earlier version did (see SharedValueProps.legacyExport). */
  readonly legacyExports?: boolean;
}

/** Where functions in any stack find the cache: a binding read in the stack that asks for it. */
export interface RedisSource {
  bindingFor(scope: IConstruct): RedisBinding;
}

/**
 * Engine parameters. volatile-lru evicts only keys with a TTL: cached entries all carry one, the
 * generation counters that invalidate them carry none and must never be evicted (losing one would
 * bring back entries of an older generation).
 */
export const CACHE_PARAMETERS = {
  'cluster-enabled': 'yes',
  'maxmemory-policy': 'volatile-lru',
} as const;

/** Cache node ids (the CacheClusterId metric dimension), e.g. <group>-0001-001, of a group of that shape. */
export function cacheNodeIds(replicationGroupId: string, settings: Pick<CacheSettings, 'shards' | 'replicasPerShard'>): string[] {
  const nodeIds: string[] = [];
  for (let shard = 1; shard <= settings.shards; shard++) {
    for (let node = 1; node <= settings.replicasPerShard + 1; node++) {
      nodeIds.push(`${replicationGroupId}-${String(shard).padStart(4, '0')}-${String(node).padStart(3, '0')}`);
    }
  }
  return nodeIds;
}

export class CacheStack extends Stack implements RedisSource {
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  public readonly authToken: secretsmanager.Secret;
  /** The replication group id, for the other stacks (Monitoring's node dimensions). */
  public readonly replicationGroupId: DeployTimeValue;
  private readonly shared: { readonly address: SharedValue; readonly port: SharedValue; readonly authSecretArn: SharedValue };
  private readonly clientSecurityGroup: ec2.ISecurityGroup;
  private readonly bindings = new Map<Stack, RedisBinding>();

  constructor(scope: Construct, id: string, props: CacheStackProps) {
    super(scope, id, props);
    const { settings } = props;

    this.authToken = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'AUTH token of the shop-edge Valkey cluster',
      // ElastiCache: 16-128 printable characters, no @ " / or spaces: alphanumerics only.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    acknowledge(this.authToken, {
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating an ElastiCache AUTH token needs ModifyReplicationGroup with AuthTokenUpdateStrategy ROTATE/SET and clients that reload the token; the functions read it once per cold start, so rotation is a planned runbook step, not a scheduled Lambda.',
    });

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Isolated subnets of the shop-edge cache',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });
    const parameterGroup = new elasticache.CfnParameterGroup(this, 'Parameters', {
      cacheParameterGroupFamily: `valkey${settings.engineVersion.split('.')[0]}`,
      description: 'shop-edge: cluster mode, volatile-lru (generation counters carry no TTL)',
      properties: { ...CACHE_PARAMETERS },
    });
    const slowLog = new LogGroup(this, 'SlowLog', {
      retention: props.logRetention,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'shop-edge L2 cache',
      engine: 'valkey',
      engineVersion: settings.engineVersion,
      cacheNodeType: settings.nodeType,
      clusterMode: 'enabled',
      numNodeGroups: settings.shards,
      replicasPerNodeGroup: settings.replicasPerShard,
      // Cluster mode always fails over automatically; Multi-AZ places replicas in other AZs.
      automaticFailoverEnabled: true,
      multiAzEnabled: settings.multiAz,
      port: settings.port,
      cacheParameterGroupName: parameterGroup.ref,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [props.securityGroup.securityGroupId],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      authToken: this.authToken.secretValue.unsafeUnwrap(),
      snapshotRetentionLimit: settings.snapshotRetentionDays,
      snapshotWindow: settings.snapshotRetentionDays > 0 ? settings.snapshotWindow : undefined,
      preferredMaintenanceWindow: settings.maintenanceWindow,
      autoMinorVersionUpgrade: true,
      logDeliveryConfigurations: [
        {
          destinationType: 'cloudwatch-logs',
          destinationDetails: { cloudWatchLogsDetails: { logGroup: slowLog.logGroupName } },
          logFormat: 'json',
          logType: 'slow-log',
        },
      ],
    });
    this.replicationGroup.applyRemovalPolicy(props.retainData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY);
    if (!settings.multiAz) {
      acknowledge(this.replicationGroup, {
        id: 'AwsSolutions-AEC4',
        reason:
          'Development profile: one shard and one replica in a single AZ to keep cost low; the prod profile enables Multi-AZ (see cdk.json environments.prod.cache.multiAz).',
      });
    }

    const legacyExport = props.legacyExports === true;
    this.shared = {
      address: new SharedValue(this, 'SharedEndpointAddress', {
        key: 'configuration-endpoint/address',
        value: this.replicationGroup.attrConfigurationEndPointAddress,
        description: 'configuration endpoint address of the Valkey cluster',
        legacyExport,
      }),
      port: new SharedValue(this, 'SharedEndpointPort', {
        key: 'configuration-endpoint/port',
        value: this.replicationGroup.attrConfigurationEndPointPort,
        description: 'configuration endpoint port of the Valkey cluster',
        legacyExport,
      }),
      authSecretArn: new SharedValue(this, 'SharedAuthSecretArn', {
        key: 'auth-token-secret-arn',
        value: this.authToken.secretArn,
        description: 'ARN of the secret holding the Valkey AUTH token',
        legacyExport,
      }),
    };
    this.replicationGroupId = new SharedValue(this, 'SharedReplicationGroupId', {
      key: 'replication-group-id',
      value: this.replicationGroup.ref,
      description: 'id of the Valkey replication group',
      legacyExport,
    });
    this.clientSecurityGroup = props.clientSecurityGroup;

    new CfnOutput(this, 'ReplicationGroupId', {
      description: 'ElastiCache replication group id (aws elasticache describe-replication-groups --replication-group-id <this>)',
      value: this.replicationGroup.ref,
    });
    new CfnOutput(this, 'AuthSecretArn', {
      description: 'ARN of the Secrets Manager secret holding the cache AUTH token (rotation: docs/deploy.md)',
      value: this.authToken.secretArn,
    });
  }

  /**
   * What a function in `scope`'s stack needs to reach the cache: the endpoint and the AUTH
   * secret (imported by its complete ARN, so grants name exactly that secret) as that stack reads
   * them at deployment.
   */
  public bindingFor(scope: IConstruct): RedisBinding {
    const stack = Stack.of(scope);
    let binding = this.bindings.get(stack);
    if (binding === undefined) {
      const authSecret =
        stack === this
          ? this.authToken
          : secretsmanager.Secret.fromSecretCompleteArn(stack, 'CacheAuthToken', this.shared.authSecretArn.in(stack));
      binding = {
        url: `rediss://${this.shared.address.in(stack)}:${this.shared.port.in(stack)}`,
        cluster: true,
        authSecret,
        clientSecurityGroup: this.clientSecurityGroup,
      };
      this.bindings.set(stack, binding);
    }
    return binding;
  }
}
