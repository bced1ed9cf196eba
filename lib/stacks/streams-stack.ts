/**
 * Stream consumers: one function per STREAM_CONSUMERS entry on its table's stream, with the
 * entry's batch size and parallelization factor (concurrent batches per shard, lanes by partition
 * key), partial batch responses, bisection on error, bounded retries and record age, and an SQS queue that
 * receives the metadata of every batch given up on. Deployed after the realtime and CDN stacks
 * because consumers post to WebSocket connections and purge the CDN.
 */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { STREAM_CONSUMERS } from '../../functions/routes';
import type { TableKey } from '../../functions/shared/tables';
import { FUNCTION_SIZES, createRouteFunction, type FunctionResources } from '../constructs/function-needs';
import type { DeployTimeValue } from '../constructs/shared-value';
import type { ShopFunction } from '../constructs/shop-function';
import { acknowledge } from '../nag';

export interface StreamsStackProps extends StackProps {
  readonly resources: FunctionResources;
  /** Stream ARNs of the tables consumers read (DataStack.streamArns), read at deployment. */
  readonly streamArns: Readonly<Partial<Record<TableKey, DeployTimeValue>>>;
  /**
   * Concurrency reserved for each consumer, so a burst of REST traffic cannot take the account's
   * whole pool and throttle them. A consumer runs up to one invocation per lane of each shard:
   * shards × its parallelizationFactor (the route table's); a reservation below that throttles lanes.
   * @default 0 - none reserved
   */
  readonly reservedConcurrency?: number;
}

/** Event source settings shared by every consumer. */
export const STREAM_SETTINGS = {
  /** Replay what is still in the stream (24 h) if a mapping is recreated: consumers are idempotent. */
  startingPosition: StartingPosition.TRIM_HORIZON,
  retryAttempts: 5,
  maxRecordAge: Duration.hours(1),
  bisectBatchOnError: true,
  reportBatchItemFailures: true,
} as const;

export interface StreamConsumerResources {
  readonly fn: ShopFunction;
  readonly failureQueue: sqs.Queue;
}

export class StreamsStack extends Stack {
  public readonly consumers: ReadonlyMap<string, StreamConsumerResources>;

  constructor(scope: Construct, id: string, props: StreamsStackProps) {
    super(scope, id, props);
    const consumers = new Map<string, StreamConsumerResources>();
    // Each table's stream as this stack reads it: its ARN from the Data stack's parameter.
    const streams = new Map<TableKey, ITable>();
    const streamOf = (key: TableKey): ITable => {
      let table = streams.get(key);
      if (table === undefined) {
        const streamArn = props.streamArns[key];
        if (streamArn === undefined) throw new Error(`the ${key} table has no stream to consume`);
        table = Table.fromTableAttributes(this, `${key}Stream`, {
          tableName: props.resources.tables[key].tableName,
          tableStreamArn: streamArn.in(this),
        });
        streams.set(key, table);
      }
      return table;
    };
    const reserved = props.reservedConcurrency ?? 0;
    for (const consumer of STREAM_CONSUMERS) {
      const failureQueue = new sqs.Queue(this, `${consumer.name}Failures`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      acknowledge(failureQueue, {
        id: 'AwsSolutions-SQS3',
        reason: `This queue is itself the on-failure destination of the ${consumer.name} stream mapping (records of batches given up on); nothing consumes it automatically, so it needs no DLQ of its own.`,
      });
      const fn = createRouteFunction(
        this,
        {
          name: consumer.name,
          entry: consumer.entry,
          needs: consumer.needs,
          description: `Consumes the ${consumer.table} table stream`,
          otherResourceWildcards:
            'the stream event source adds dynamodb:ListStreams, which supports no resource-level permissions (GetRecords, GetShardIterator and DescribeStream are scoped to the stream ARN)',
          ...(reserved > 0 ? { reservedConcurrentExecutions: reserved } : {}),
          ...FUNCTION_SIZES.streamConsumer,
        },
        props.resources,
      );
      fn.addEventSource(
        new DynamoEventSource(streamOf(consumer.table), {
          ...STREAM_SETTINGS,
          batchSize: consumer.batchSize,
          parallelizationFactor: consumer.parallelizationFactor,
          onFailure: new SqsDlq(failureQueue),
          ...(consumer.filters !== undefined ? { filters: consumer.filters.map((pattern) => FilterCriteria.filter(pattern)) } : {}),
        }),
      );
      consumers.set(consumer.name, { fn, failureQueue });
    }
    this.consumers = consumers;
  }
}
