/**
 * Data: the DynamoDB tables of functions/shared/tables.ts, on demand, with point-in-time recovery,
 * KMS encryption, the stream the consumers read and TTL (epoch seconds) where the definition has one.
 * A stream's ARN changes whenever its stream is switched off and on (a new view type takes that),
 * so the consumers read it through an SSM parameter, not an export.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { TABLES, type AttributeDefinition, type TableDefinition, type TableKey } from '../../functions/shared/tables';
import { SharedValue, type DeployTimeValue } from '../constructs/shared-value';

export interface DataStackProps extends StackProps {
  /** Keep tables on stack deletion and turn on deletion protection (prod). */
  readonly retainData: boolean;
  /** Also export the shared values as an earlier version did (see SharedValueProps.legacyExport). */
  readonly legacyExports?: boolean;
}

export class DataStack extends Stack {
  public readonly tables: Readonly<Record<TableKey, dynamodb.Table>>;
  /** The stream ARN of each table that has a stream, for the consumers' stacks. */
  public readonly streamArns: Readonly<Partial<Record<TableKey, DeployTimeValue>>>;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const keys = Object.keys(TABLES) as TableKey[];
    const tables = Object.fromEntries(keys.map((key) => [key, this.createTable(TABLES[key], props.retainData)] as const)) as Record<
      TableKey,
      dynamodb.Table
    >;
    this.tables = tables;
    const streamArns: Partial<Record<TableKey, DeployTimeValue>> = {};
    for (const key of keys) {
      const streamArn = tables[key].tableStreamArn;
      if (streamArn === undefined) continue;
      streamArns[key] = new SharedValue(this, `${TABLES[key].logicalName}SharedStreamArn`, {
        key: `${TABLES[key].logicalName}/stream-arn`,
        value: streamArn,
        description: `stream ARN of the ${TABLES[key].logicalName} table`,
        legacyExport: props.legacyExports,
      });
    }
    this.streamArns = streamArns;
  }

  private createTable(def: TableDefinition, retainData: boolean): dynamodb.Table {
    const table = new dynamodb.Table(this, def.logicalName, {
      partitionKey: attribute(def.partitionKey),
      sortKey: def.sortKey ? attribute(def.sortKey) : undefined,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      stream: def.stream === 'NEW_AND_OLD_IMAGES' ? dynamodb.StreamViewType.NEW_AND_OLD_IMAGES : undefined,
      timeToLiveAttribute: def.timeToLiveAttribute,
      deletionProtection: retainData,
      removalPolicy: retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const index of def.globalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        sortKey: index.sortKey ? attribute(index.sortKey) : undefined,
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }
}

function attribute(def: AttributeDefinition): dynamodb.Attribute {
  return { name: def.name, type: def.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER };
}
