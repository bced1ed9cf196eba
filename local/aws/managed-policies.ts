/**
 * The AWS managed policies that the stacks attach by ARN, with their documents as AWS publishes
 * them (the default version at the date noted). The full set is over a thousand documents and
 * tens of megabytes; the stacks use a handful, so they are embedded here. An ARN that is not
 * listed is an error, never an empty grant or a silent allow: add its real document here.
 */
import type { PolicyDocument } from './iam';

const LAMBDA_LOGS = ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'];

const MANAGED_POLICIES: Readonly<Record<string, PolicyDocument>> = {
  // Default version v1 (2015-04-09).
  'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: LAMBDA_LOGS, Resource: '*' }],
  },
  // Default version v3 (2024-01-05).
  'arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AWSLambdaVPCAccessExecutionPermissions',
        Effect: 'Allow',
        Action: [
          ...LAMBDA_LOGS,
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: '*',
      },
    ],
  },
  // Default version v1 (2015-11-11): API Gateway's account-level CloudWatch role.
  'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:DescribeLogGroups',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
          'logs:GetLogEvents',
          'logs:FilterLogEvents',
        ],
        Resource: '*',
      },
    ],
  },
  // Default version v2 (2024-02-13): what tracing adds to a function's role.
  'arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess': {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AWSXRayDaemonWriteAccess',
        Effect: 'Allow',
        Action: [
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
          'xray:GetSamplingStatisticSummaries',
        ],
        Resource: ['*'],
      },
    ],
  },
};

export class UnknownManagedPolicyError extends Error {
  constructor(readonly policyArn: string) {
    super(
      `AWS managed policy ${policyArn} is not known locally (known: ${knownManagedPolicyArns().join(', ')}): add its document to local/aws/managed-policies.ts`,
    );
    this.name = 'UnknownManagedPolicyError';
  }
}

/**
 * The document of an AWS managed policy, by ARN. Any partition prefix (`arn:aws-cn:` etc.) is
 * read as `arn:aws:`, since a template's `arn:${AWS::Partition}:iam::aws:policy/...` resolves to
 * the partition it is deployed in. Throws UnknownManagedPolicyError for an ARN not listed.
 */
export function awsManagedPolicy(policyArn: string): PolicyDocument {
  const normalized = policyArn.replace(/^arn:[^:]+:iam::aws:policy\//, 'arn:aws:iam::aws:policy/');
  const document = MANAGED_POLICIES[normalized];
  if (document === undefined) throw new UnknownManagedPolicyError(policyArn);
  return document;
}

/** True for an ARN of the `arn:<partition>:iam::aws:policy/...` form (known locally or not). */
export function isAwsManagedPolicyArn(policyArn: string): boolean {
  return /^arn:[^:]+:iam::aws:policy\//.test(policyArn);
}

export function knownManagedPolicyArns(): string[] {
  return Object.keys(MANAGED_POLICIES);
}
