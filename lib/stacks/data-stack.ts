/**
 * Data: the DynamoDB tables of functions/shared/tables.ts, on demand, with point-in-time recovery,
 * KMS encryption, the stream the consumers read and TTL (epoch seconds) where the definition has one.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { TABLES, type AttributeDefinition, type TableDefinition, type TableKey } from '../../functions/shared/tables';

export interface DataStackProps extends StackProps {
  /** Keep tables on stack deletion and turn on deletion protection (prod). */
  readonly retainData: boolean;
}

export class DataStack extends Stack {
  public readonly tables: Readonly<Record<TableKey, dynamodb.Table>>;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const entries = (Object.keys(TABLES) as TableKey[]).map((key) => [key, this.createTable(TABLES[key], props.retainData)] as const);
    this.tables = Object.fromEntries(entries) as Record<TableKey, dynamodb.Table>;
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
