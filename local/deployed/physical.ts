/**
 * The physical values a local deployment gives each resource: what `Ref` and `Fn::GetAtt` return,
 * in the formats AWS uses (names, ids, ARNs, endpoints). Names CloudFormation would generate are
 * derived from the stack and logical id, so they are stable from one start to the next. Values
 * only known once something runs locally (a table's stream ARN) are recorded by the provisioner
 * through `record`.
 *
 * A resource type missing here stops the as-deployed mode at the first reference to it, naming
 * the resource and the property: no value is ever made up for a type this does not know.
 */
import { createHash } from 'node:crypto';
import type { ResourceRef } from './assembly';
import { TemplateError, type PhysicalValues, type Where } from './intrinsics';

export interface LocalAccount {
  readonly region: string;
  readonly accountId: string;
  /**
   * Mixed into every generated name and id, so several local deployments of one assembly can
   * share a DynamoDB Local (as CloudFormation's random suffixes keep two stacks apart).
   * @default '' (the same names at every start)
   */
  readonly salt?: string;
}

type Attributes = Record<string, () => unknown>;

interface TypeValues {
  ref(): unknown;
  readonly attributes?: Attributes;
}

export class LocalPhysicalValues implements PhysicalValues {
  private readonly recorded = new Map<string, unknown>();

  constructor(private readonly account: LocalAccount) {}

  /** A value known only once the resource runs locally (e.g. a table's StreamArn). */
  record(resource: Pick<ResourceRef, 'stack' | 'logicalId'>, attribute: string, value: unknown): void {
    this.recorded.set(key(resource, attribute), value);
  }

  ref(resource: ResourceRef, where: Where): unknown {
    return this.values(resource, where).ref();
  }

  getAtt(resource: ResourceRef, attribute: string, where: Where): unknown {
    const recorded = this.recorded.get(key(resource, attribute));
    if (recorded !== undefined) return recorded;
    const getter = this.values(resource, where).attributes?.[attribute];
    if (getter === undefined) {
      throw new TemplateError(
        where,
        `Fn::GetAtt ${resource.logicalId}.${attribute}: attribute not supported for ${resource.resource.Type}`,
      );
    }
    return getter();
  }

  /** The physical name CloudFormation would generate: <stack>-<logicalId>-<suffix>, within `max`. */
  generatedName(resource: Pick<ResourceRef, 'stack' | 'logicalId'>, max = 64, lowercase = false): string {
    const suffix = stableId(resource, 12, `name${this.account.salt ?? ''}`).toUpperCase();
    const base = `${resource.stack}-${resource.logicalId}`.slice(0, max - suffix.length - 1);
    const name = `${base}-${suffix}`;
    return lowercase ? name.toLowerCase() : name;
  }

  /** A string property when the template names the resource, else the generated name. */
  nameOf(resource: ResourceRef, property: string, max = 64, lowercase = false): string {
    const given = resource.resource.Properties?.[property];
    if (typeof given === 'string') return given;
    if (given !== undefined) {
      throw new TemplateError({ stack: resource.stack, logicalId: resource.logicalId, path: property }, 'a computed name is not supported');
    }
    return this.generatedName(resource, max, lowercase);
  }

  private values(resource: ResourceRef, where: Where): TypeValues {
    const { region, accountId } = this.account;
    const id = (length: number, salt = 'id') => stableId(resource, length, `${salt}${this.account.salt ?? ''}`);
    const name = (property: string, max = 64, lowercase = false) => this.nameOf(resource, property, max, lowercase);
    const arn = (service: string, rest: string, withRegion = true) => `arn:aws:${service}:${withRegion ? region : ''}:${accountId}:${rest}`;
    const stream = () => this.recorded.get(key(resource, 'StreamArn'));
    switch (resource.resource.Type) {
      case 'AWS::DynamoDB::Table': {
        const table = name('TableName', 255);
        return {
          ref: () => table,
          attributes: {
            Arn: () => arn('dynamodb', `table/${table}`),
            StreamArn: () => stream() ?? notYet(where, resource, 'StreamArn'),
          },
        };
      }
      case 'AWS::Lambda::Function': {
        const fn = name('FunctionName', 64);
        return { ref: () => fn, attributes: { Arn: () => arn('lambda', `function:${fn}`) } };
      }
      case 'AWS::IAM::Role': {
        const role = name('RoleName', 64);
        return { ref: () => role, attributes: { Arn: () => `arn:aws:iam::${accountId}:role/${role}`, RoleId: () => `AROA${id(17)}` } };
      }
      case 'AWS::IAM::ManagedPolicy': {
        const policy = name('ManagedPolicyName', 128);
        return {
          ref: () => `arn:aws:iam::${accountId}:policy/${policy}`,
          attributes: { PolicyArn: () => `arn:aws:iam::${accountId}:policy/${policy}` },
        };
      }
      case 'AWS::IAM::Policy':
        return { ref: () => name('PolicyName', 128) };
      case 'AWS::SecretsManager::Secret': {
        const secret = name('Name', 256);
        const secretArn = arn('secretsmanager', `secret:${secret}-${id(6, 'secret')}`);
        return { ref: () => secretArn, attributes: { Id: () => secretArn } };
      }
      case 'AWS::ElastiCache::ReplicationGroup': {
        const group = name('ReplicationGroupId', 40, true);
        const port = () => Number(resource.resource.Properties?.Port ?? 6379);
        const zone = `${id(6, 'cache')}.${shortRegion(region)}.cache.amazonaws.com`;
        return {
          ref: () => group,
          attributes: {
            'ConfigurationEndPoint.Address': () => `clustercfg.${group}.${zone}`,
            'ConfigurationEndPoint.Port': () => String(port()),
            'PrimaryEndPoint.Address': () => `master.${group}.${zone}`,
            'PrimaryEndPoint.Port': () => String(port()),
            'ReaderEndPoint.Address': () => `replica.${group}.${zone}`,
            'ReaderEndPoint.Port': () => String(port()),
          },
        };
      }
      case 'AWS::ElastiCache::SubnetGroup':
        return { ref: () => name('CacheSubnetGroupName', 255, true) };
      case 'AWS::ElastiCache::ParameterGroup':
        return { ref: () => name('CacheParameterGroupName', 255, true) };
      case 'AWS::ApiGateway::RestApi':
        return { ref: () => id(10), attributes: { RootResourceId: () => id(10, 'root') } };
      case 'AWS::ApiGateway::Resource':
      case 'AWS::ApiGateway::Authorizer':
      case 'AWS::ApiGateway::RequestValidator':
      case 'AWS::ApiGateway::Deployment':
        return { ref: () => id(6) };
      case 'AWS::ApiGateway::Model':
        return { ref: () => name('Name', 128) };
      case 'AWS::ApiGateway::Stage':
        return { ref: () => name('StageName', 128) };
      case 'AWS::ApiGatewayV2::Api': {
        const api = id(10);
        return {
          ref: () => api,
          attributes: { ApiEndpoint: () => `wss://${api}.execute-api.${region}.amazonaws.com`, ApiId: () => api },
        };
      }
      case 'AWS::ApiGatewayV2::Integration':
      case 'AWS::ApiGatewayV2::Route':
      case 'AWS::ApiGatewayV2::Authorizer':
        return { ref: () => id(7) };
      case 'AWS::ApiGatewayV2::Stage':
        return { ref: () => name('StageName', 128) };
      case 'AWS::SQS::Queue': {
        const queue = name('QueueName', 80);
        return {
          ref: () => `https://sqs.${region}.amazonaws.com/${accountId}/${queue}`,
          attributes: {
            Arn: () => arn('sqs', queue),
            QueueName: () => queue,
            QueueUrl: () => `https://sqs.${region}.amazonaws.com/${accountId}/${queue}`,
          },
        };
      }
      case 'AWS::SNS::Topic': {
        const topic = name('TopicName', 256);
        return { ref: () => arn('sns', topic), attributes: { TopicArn: () => arn('sns', topic), TopicName: () => topic } };
      }
      case 'AWS::Logs::LogGroup': {
        const group = name('LogGroupName', 512);
        return { ref: () => group, attributes: { Arn: () => arn('logs', `log-group:${group}:*`) } };
      }
      case 'AWS::S3::Bucket': {
        const bucket = name('BucketName', 63, true);
        return {
          ref: () => bucket,
          attributes: {
            Arn: () => `arn:aws:s3:::${bucket}`,
            DomainName: () => `${bucket}.s3.amazonaws.com`,
            RegionalDomainName: () => `${bucket}.s3.${region}.amazonaws.com`,
          },
        };
      }
      case 'AWS::CloudFront::Distribution': {
        const distribution = `E${id(13).toUpperCase()}`;
        return { ref: () => distribution, attributes: { Id: () => distribution, DomainName: () => `d${id(13, 'domain')}.cloudfront.net` } };
      }
      case 'AWS::CloudFront::Function':
        return {
          ref: () => arn('cloudfront', `function/${name('Name', 64)}`, false),
          attributes: { FunctionARN: () => arn('cloudfront', `function/${name('Name', 64)}`, false) },
        };
      case 'AWS::CloudFront::CachePolicy':
      case 'AWS::CloudFront::ResponseHeadersPolicy':
      case 'AWS::CloudFront::OriginAccessControl':
      case 'AWS::CloudFront::OriginRequestPolicy':
        return { ref: () => `${id(8)}-${id(4, 'a')}-${id(4, 'b')}-${id(4, 'c')}-${id(12, 'd')}`, attributes: { Id: () => id(14) } };
      case 'AWS::EC2::VPC':
        return {
          ref: () => `vpc-${id(17)}`,
          attributes: { CidrBlock: () => resource.resource.Properties?.CidrBlock, VpcId: () => `vpc-${id(17)}` },
        };
      case 'AWS::EC2::Subnet':
        return { ref: () => `subnet-${id(17)}`, attributes: { SubnetId: () => `subnet-${id(17)}` } };
      case 'AWS::EC2::RouteTable':
        return { ref: () => `rtb-${id(17)}`, attributes: { RouteTableId: () => `rtb-${id(17)}` } };
      case 'AWS::EC2::SecurityGroup':
        return {
          ref: () => `sg-${id(17)}`,
          attributes: { GroupId: () => `sg-${id(17)}`, VpcId: () => resource.resource.Properties?.VpcId },
        };
      case 'AWS::EC2::VPCEndpoint':
        return { ref: () => `vpce-${id(17)}`, attributes: { Id: () => `vpce-${id(17)}` } };
      case 'AWS::EC2::NatGateway':
        return { ref: () => `nat-${id(17)}` };
      case 'AWS::EC2::InternetGateway':
        return { ref: () => `igw-${id(17)}` };
      case 'AWS::Lambda::LayerVersion':
        return { ref: () => arn('lambda', `layer:${resource.logicalId}:1`) };
      case 'AWS::SSM::Parameter': {
        const parameter = name('Name', 2048);
        return { ref: () => parameter, attributes: { Type: () => 'String', Value: () => resource.resource.Properties?.Value } };
      }
      case 'Custom::VpcRestrictDefaultSG':
        return { ref: () => `restrict-default-sg-${id(8)}` };
      case 'AWS::WAFv2::WebACL': {
        const acl = name('Name', 128);
        const aclId = `${id(8)}-${id(4, 'a')}-${id(4, 'b')}-${id(4, 'c')}-${id(12, 'd')}`;
        const aclArn = arn('wafv2', `regional/webacl/${acl}/${aclId}`);
        // Ref is "name|id|scope", as CloudFormation returns it.
        return { ref: () => `${acl}|${aclId}|REGIONAL`, attributes: { Arn: () => aclArn, Id: () => aclId } };
      }
      default:
        throw new TemplateError(
          where,
          `refers to ${resource.logicalId}, of type ${resource.resource.Type}, which the as-deployed mode does not support`,
        );
    }
  }
}

function key(resource: Pick<ResourceRef, 'stack' | 'logicalId'>, attribute: string): string {
  return `${resource.stack}/${resource.logicalId}.${attribute}`;
}

/** Lowercase letters and digits, stable for a resource. */
function stableId(resource: Pick<ResourceRef, 'stack' | 'logicalId'>, length: number, salt: string): string {
  const digest = createHash('sha256').update(`${resource.stack}/${resource.logicalId}/${salt}`).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; out.length < length; i++) out += alphabet.charAt((digest[i % digest.length] ?? 0) % alphabet.length);
  return out;
}

/** ElastiCache's short region codes in endpoint names (us-east-1 → use1). */
function shortRegion(region: string): string {
  const [area = '', direction = '', number = ''] = region.split('-');
  return `${area}${direction.charAt(0)}${number}`;
}

function notYet(where: Where, resource: ResourceRef, attribute: string): never {
  throw new TemplateError(where, `${resource.logicalId}.${attribute} is not known before the resource runs locally`);
}
