/**
 * Network: a VPC with isolated subnets only (no NAT gateway, no internet gateway) unless NAT is
 * opted into; a DynamoDB gateway endpoint and a Secrets Manager interface endpoint, which is all
 * the functions in the VPC reach; the two security groups of the cache (the cluster's, and the
 * one its clients carry); the VPC's default security group stripped of its rules; the policy
 * Lambda needs to give functions network interfaces in this VPC.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionNetwork } from '../constructs/function-needs';
import { acknowledge, managedPolicyFinding, wildcardResourceFinding } from '../nag';

export interface NetworkStackProps extends StackProps {
  /** Availability zones to span (an environment-agnostic stack gets at most 2). */
  readonly maxAzs: number;
  /**
   * NAT gateways (one per AZ at most). 0 keeps every subnet isolated; above 0 adds public and
   * private-with-egress subnets for the functions that need an AWS API without a VPC endpoint.
   * @default 0
   */
  readonly natGateways?: number;
  /** The port the cache listens on; the only port its security group admits. */
  readonly cachePort: number;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class NetworkStack extends Stack {
  public readonly vpc: ec2.Vpc;
  public readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  public readonly egressSubnets?: ec2.SubnetSelection;
  /** Attached to the cache cluster: admits the cache port from cacheClientSecurityGroup only. */
  public readonly cacheSecurityGroup: ec2.SecurityGroup;
  /** Carried by every function that talks to the cache. */
  public readonly cacheClientSecurityGroup: ec2.SecurityGroup;
  /** Attached to every function in the VPC instead of AWSLambdaVPCAccessExecutionRole. */
  public readonly networkInterfacePolicy: iam.ManagedPolicy;
  public readonly functionNetwork: FunctionNetwork;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const natGateways = props.natGateways ?? 0;

    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
    ];
    if (natGateways > 0) {
      subnetConfiguration.push(
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 26 },
        { name: 'egress', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      );
      this.egressSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    }

    const flowLogGroup = new LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: props.maxAzs,
      natGateways,
      subnetConfiguration,
      createInternetGateway: natGateways > 0,
      // Nothing uses the default group; without rules, a resource that lands in it by mistake
      // reaches nothing and nothing reaches it (a custom resource removes the allow-all rules).
      restrictDefaultSecurityGroup: true,
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        All: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL },
      },
    });

    this.cacheSecurityGroup = new ec2.SecurityGroup(this, 'CacheSecurityGroup', {
      vpc: this.vpc,
      description: 'Valkey cluster: admits the cache port from cache clients only',
      allowAllOutbound: false,
    });
    this.cacheClientSecurityGroup = new ec2.SecurityGroup(this, 'CacheClientSecurityGroup', {
      vpc: this.vpc,
      description: 'Functions that talk to the cache: cache port to the cluster, HTTPS to VPC endpoints',
      allowAllOutbound: false,
    });
    const cachePort = ec2.Port.tcp(props.cachePort);
    this.cacheSecurityGroup.addIngressRule(this.cacheClientSecurityGroup, cachePort, 'Cache clients');
    this.cacheClientSecurityGroup.addEgressRule(this.cacheSecurityGroup, cachePort, 'Valkey cluster');
    // HTTPS leaves only through the endpoints (the DynamoDB gateway endpoint has no fixed address
    // range we can name offline); isolated subnets have no other route, and with NAT on this is
    // the path to the APIs without an endpoint.
    this.cacheClientSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs through VPC endpoints');

    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from cache clients',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(this.cacheClientSecurityGroup, ec2.Port.tcp(443), 'Cache clients read the AUTH token');
    // Functions in the VPC read the cache AUTH token at cold start.
    this.vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: this.isolatedSubnets,
      privateDnsEnabled: true,
      open: false,
      securityGroups: [endpointSecurityGroup],
    });

    this.acknowledgeDefaultGroupRestriction();

    // What AWSLambdaVPCAccessExecutionRole grants, less its logs actions on every log group (each
    // function's role writes its own log group only), with the network-interface actions limited
    // to this account and region and, wherever EC2 names the VPC of the request, to this VPC.
    const interfaces = this.formatArn({ service: 'ec2', resource: '*', resourceName: '*' });
    this.networkInterfacePolicy = new iam.ManagedPolicy(this, 'LambdaNetworkInterfaces', {
      description: 'Lets Lambda give shop-edge functions network interfaces in this VPC (Hyperplane ENIs)',
      statements: [
        new iam.PolicyStatement({
          sid: 'DescribeNetwork',
          actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'NetworkInterfacesInThisVpc',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: [interfaces],
          conditions: {
            ArnEqualsIfExists: { 'ec2:Vpc': this.formatArn({ service: 'ec2', resource: 'vpc', resourceName: this.vpc.vpcId }) },
          },
        }),
      ],
    });
    acknowledge(
      this.networkInterfacePolicy,
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets support no resource-level permissions (Lambda calls them when it attaches a function to the VPC); they read, never change.',
      },
      {
        id: wildcardResourceFinding(this, interfaces),
        reason:
          'Lambda creates and deletes the network interfaces of VPC functions itself, so their ids are not known before; the resource is this account and region, and the condition holds the actions to this VPC.',
      },
    );

    this.functionNetwork = {
      vpc: this.vpc,
      isolatedSubnets: this.isolatedSubnets,
      egressSubnets: this.egressSubnets,
      cacheClientSecurityGroup: this.cacheClientSecurityGroup,
      networkInterfacePolicy: this.networkInterfacePolicy,
    };
  }

  /**
   * restrictDefaultSecurityGroup runs aws-cdk-lib's own custom resource (a singleton provider
   * function at the stack's root) that revokes the default group's rules.
   */
  private acknowledgeDefaultGroupRestriction(): void {
    const provider = this.node.children.find((c) => c.node.id.startsWith('Custom::VpcRestrictDefaultSG'));
    if (provider === undefined)
      throw new Error('the default security group restriction provider was not found (aws-cdk-lib changed its id?)');
    const why = "aws-cdk-lib's provider of restrictDefaultSecurityGroup, which revokes the default security group's rules at deployment";
    acknowledge(provider, {
      id: managedPolicyFinding(provider, `arn:${this.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`),
      reason: `${why}: the managed policy only lets it write its own logs.`,
    });
  }
}
