/**
 * Monitoring: one dashboard (cache effectiveness from the functions' EMF metrics, REST and CDN
 * traffic, functions, WebSocket, cache nodes, tables, streams) and alarms to an SNS topic.
 */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Distribution } from 'aws-cdk-lib/aws-cloudfront';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { CdnPurgeMetric } from '../../functions/cdn/cdn-purger';
import { STREAM_CONSUMERS } from '../../functions/routes';
import type { CacheSettings } from '../config';
import type { DeployTimeValue } from '../constructs/shared-value';
import { METRICS_NAMESPACE, type ShopFunction } from '../constructs/shop-function';
import { cacheNodeIds } from './cache-stack';

/** The cache module's EMF metrics (namespace ShopEdge, dimension `service`). */
export const CACHE_METRICS = ['L1Hit', 'L2Hit', 'CacheMiss', 'StaleServed', 'LeaseWait', 'BreakerOpen', 'OriginLatency'] as const;
export type CacheMetric = (typeof CACHE_METRICS)[number];

export interface MonitoredFunctions {
  readonly title: string;
  readonly functions: readonly ShopFunction[];
}

export interface MonitoringStackProps extends StackProps {
  readonly restApi: RestApi;
  readonly webSocketStage: WebSocketStage;
  readonly distribution: Distribution;
  /** Functions by group (REST, WebSocket, streams), for errors, throttles and duration. */
  readonly functionGroups: readonly MonitoredFunctions[];
  /** Powertools service names of the functions that use the cache. */
  readonly cacheServices: readonly string[];
  /**
   * The cache's replication group (its id read at deployment: a replaced group has a new one) and
   * shape, which name its nodes (the CacheClusterId dimension).
   */
  readonly cache: { readonly replicationGroupId: DeployTimeValue; readonly shape: Pick<CacheSettings, 'shards' | 'replicasPerShard'> };
  readonly tables: readonly ITable[];
  readonly streamConsumers: readonly { readonly fn: ShopFunction; readonly failureQueue: IQueue }[];
  /** @default - no subscription (subscribe to the topic by other means) */
  readonly alarmEmail?: string;
}

const PERIOD = Duration.minutes(5);

export class MonitoringStack extends Stack {
  public readonly alarmTopic: sns.Topic;
  public readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    this.alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'shop-edge alarms', enforceSSL: true });
    if (props.alarmEmail !== undefined) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.alarmTopic);
    const alarm = (name: string, options: cw.CreateAlarmOptions & { metric: cw.IMetric }): cw.Alarm => {
      const a = new cw.Alarm(this, name, { treatMissingData: cw.TreatMissingData.NOT_BREACHING, ...options });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };

    this.dashboard = new cw.Dashboard(this, 'Dashboard', { dashboardName: this.stackName, defaultInterval: Duration.hours(3) });
    const widgets: cw.IWidget[][] = [];

    // Cache effectiveness (EMF).
    const services = props.cacheServices;
    const emf = (metricName: CacheMetric, service: string, statistic = 'Sum') =>
      new cw.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service }, statistic, period: PERIOD });
    const total = (metricName: CacheMetric, prefix: string, label: string): cw.MathExpression => {
      const using = Object.fromEntries(services.map((s, i) => [`${prefix}${i}`, emf(metricName, s)]));
      return new cw.MathExpression({
        expression:
          Object.keys(using)
            .map((k) => `FILL(${k}, 0)`)
            .join(' + ') || '0',
        usingMetrics: using,
        label,
        period: PERIOD,
      });
    };
    const l1 = total('L1Hit', 'aa', 'L1 hits');
    const l2 = total('L2Hit', 'bb', 'L2 hits');
    const miss = total('CacheMiss', 'cc', 'Misses');
    const hitRatio = new cw.MathExpression({
      expression: 'IF(l1 + l2 + miss > 0, 100 * (l1 + l2) / (l1 + l2 + miss), 0)',
      usingMetrics: { l1, l2, miss },
      label: 'Hit ratio % (L1 + L2)',
      period: PERIOD,
    });
    const l1Ratio = new cw.MathExpression({
      expression: 'IF(l1 + l2 + miss > 0, 100 * l1 / (l1 + l2 + miss), 0)',
      usingMetrics: { l1, l2, miss },
      label: 'L1 hit ratio %',
      period: PERIOD,
    });
    widgets.push([
      new cw.TextWidget({ markdown: '## Cache (EMF, namespace ShopEdge)', width: 24, height: 1 }),
      new cw.GraphWidget({ title: 'Cache hit ratio', left: [hitRatio, l1Ratio], leftYAxis: { min: 0, max: 100 }, width: 8 }),
      new cw.GraphWidget({
        title: 'Cache events',
        left: [
          l1,
          l2,
          miss,
          total('StaleServed', 'dd', 'Stale served'),
          total('LeaseWait', 'ee', 'Lease waits'),
          total('BreakerOpen', 'ff', 'Breaker open'),
        ],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Origin latency p50 / p99 (ms)',
        left: services.map((s) => emf('OriginLatency', s, 'p50').with({ label: `${s} p50` })),
        right: services.map((s) => emf('OriginLatency', s, 'p99').with({ label: `${s} p99` })),
        width: 8,
      }),
    ]);
    const breaker = chunks([...services], 10);
    breaker.forEach((group, i) => {
      const using = Object.fromEntries(group.map((s, j) => [`b${j}`, emf('BreakerOpen', s)]));
      alarm(`CacheBreakerOpen${i}`, {
        alarmDescription: 'The cache circuit breaker opened: functions are serving without L2 (Redis unreachable or slow).',
        metric: new cw.MathExpression({
          expression: Object.keys(using)
            .map((k) => `FILL(${k}, 0)`)
            .join(' + '),
          usingMetrics: using,
          period: PERIOD,
        }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    });

    // REST API and CDN. CloudFront publishes in us-east-1 only, with the dimension Region=Global
    // (so a CloudFront alarm would have to live in us-east-1: the dashboard shows them instead).
    const cdn = (metricName: string, statistic: string) =>
      new cw.Metric({
        namespace: 'AWS/CloudFront',
        metricName,
        dimensionsMap: { DistributionId: props.distribution.distributionId, Region: 'Global' },
        region: 'us-east-1',
        statistic,
        period: PERIOD,
      });
    const api = props.restApi;
    const requests = api.metricCount({ period: PERIOD, statistic: 'Sum' });
    const serverErrors = api.metricServerError({ period: PERIOD, statistic: 'Sum' });
    const latencyP99 = api.metricLatency({ period: PERIOD, statistic: 'p99' });
    widgets.push([
      new cw.TextWidget({ markdown: '## REST API and CDN', width: 24, height: 1 }),
      new cw.GraphWidget({
        title: 'REST requests and errors',
        left: [requests],
        right: [api.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }), serverErrors.with({ label: '5xx' })],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'REST latency (ms)',
        left: [
          api.metricLatency({ period: PERIOD, statistic: 'p50', label: 'p50' }),
          latencyP99.with({ label: 'p99' }),
          api.metricIntegrationLatency({ period: PERIOD, statistic: 'p99', label: 'integration p99' }),
        ],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'CloudFront',
        left: [cdn('Requests', 'Sum')],
        right: [cdn('4xxErrorRate', 'Average'), cdn('5xxErrorRate', 'Average')],
        width: 8,
      }),
    ]);
    alarm('Rest5xxRate', {
      alarmDescription: 'More than 1% of REST requests failed with 5xx for 15 minutes.',
      metric: new cw.MathExpression({
        expression: 'IF(requests > 0, 100 * errors / requests, 0)',
        usingMetrics: { requests, errors: serverErrors },
        period: PERIOD,
      }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('RestLatencyP99', {
      alarmDescription: 'REST p99 latency above 1 s for 15 minutes.',
      metric: latencyP99,
      threshold: 1000,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });

    // Functions.
    for (const group of props.functionGroups) {
      widgets.push([
        new cw.GraphWidget({
          title: `${group.title}: errors and throttles`,
          left: group.functions.map((f) => f.metricErrors({ period: PERIOD, label: f.node.id })),
          right: group.functions.map((f) => f.metricThrottles({ period: PERIOD, label: `${f.node.id} throttles` })),
          width: 12,
        }),
        new cw.GraphWidget({
          title: `${group.title}: duration p99 (ms)`,
          left: group.functions.map((f) => f.metricDuration({ period: PERIOD, statistic: 'p99', label: f.node.id })),
          width: 12,
        }),
      ]);
      for (const f of group.functions) {
        alarm(`${f.node.id}${group.title.replace(/\W/g, '')}Errors`, {
          alarmDescription: `${f.node.id} (${group.title}) reported errors in 3 consecutive 5-minute periods.`,
          metric: f.metricErrors({ period: PERIOD }),
          threshold: 0,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
        });
        alarm(`${f.node.id}${group.title.replace(/\W/g, '')}Throttles`, {
          alarmDescription: `${f.node.id} (${group.title}) was throttled.`,
          metric: f.metricThrottles({ period: PERIOD }),
          threshold: 0,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
        });
      }
    }

    // WebSocket.
    const ws = (metricName: string, statistic = 'Sum') => props.webSocketStage.metric(metricName, { period: PERIOD, statistic });
    const wsErrors = ws('ExecutionError');
    widgets.push([
      new cw.TextWidget({ markdown: '## WebSocket', width: 24, height: 1 }),
      new cw.GraphWidget({ title: 'Connections and messages', left: [ws('ConnectCount')], right: [ws('MessageCount')], width: 12 }),
      new cw.GraphWidget({ title: 'WebSocket errors', left: [ws('ClientError'), ws('IntegrationError'), wsErrors], width: 12 }),
    ]);
    alarm('WebSocketExecutionErrors', {
      alarmDescription: 'WebSocket routes failed to execute (more than 10 in 5 minutes).',
      metric: wsErrors,
      threshold: 10,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    // Cache nodes.
    const node = (metricName: string, nodeId: string, statistic: string) =>
      new cw.Metric({ namespace: 'AWS/ElastiCache', metricName, dimensionsMap: { CacheClusterId: nodeId }, statistic, period: PERIOD });
    const nodeIds = cacheNodeIds(props.cache.replicationGroupId.in(this), props.cache.shape);
    const perNode = (metricName: string, statistic: string) => nodeIds.map((n) => node(metricName, n, statistic));
    widgets.push([
      new cw.TextWidget({ markdown: '## Cache nodes (ElastiCache)', width: 24, height: 1 }),
      new cw.GraphWidget({ title: 'Engine CPU %', left: perNode('EngineCPUUtilization', 'Maximum'), width: 6 }),
      new cw.GraphWidget({ title: 'Memory used %', left: perNode('DatabaseMemoryUsagePercentage', 'Maximum'), width: 6 }),
      new cw.GraphWidget({ title: 'Evictions', left: perNode('Evictions', 'Sum'), width: 6 }),
      new cw.GraphWidget({ title: 'Replication lag (s)', left: perNode('ReplicationLag', 'Maximum'), width: 6 }),
    ]);
    nodeIds.forEach((nodeId, i) => {
      alarm(`CacheNode${i}Cpu`, {
        alarmDescription: `Cache node ${i + 1}: engine CPU above 80% for 15 minutes.`,
        metric: node('EngineCPUUtilization', nodeId, 'Maximum'),
        threshold: 80,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
      alarm(`CacheNode${i}Memory`, {
        alarmDescription: `Cache node ${i + 1}: memory above 85% (evictions of cached entries follow).`,
        metric: node('DatabaseMemoryUsagePercentage', nodeId, 'Maximum'),
        threshold: 85,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
      alarm(`CacheNode${i}ReplicationLag`, {
        alarmDescription: `Cache node ${i + 1}: replication lag above 5 s (replicas only report it).`,
        metric: node('ReplicationLag', nodeId, 'Maximum'),
        threshold: 5,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
    });

    // Tables and streams.
    const throttles = props.tables.map((t) => {
      const read = t.metric('ReadThrottleEvents', { period: PERIOD, statistic: 'Sum' });
      const write = t.metric('WriteThrottleEvents', { period: PERIOD, statistic: 'Sum' });
      return { table: t, read, write };
    });
    widgets.push([
      new cw.TextWidget({ markdown: '## Tables and streams', width: 24, height: 1 }),
      new cw.GraphWidget({ title: 'DynamoDB throttles', left: throttles.flatMap((t) => [t.read, t.write]), width: 8 }),
      new cw.GraphWidget({
        title: 'Stream iterator age (ms)',
        left: props.streamConsumers.map((c) => c.fn.metric('IteratorAge', { period: PERIOD, statistic: 'Maximum', label: c.fn.node.id })),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Failed batches (on-failure queues)',
        left: props.streamConsumers.map((c) =>
          c.failureQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: c.fn.node.id }),
        ),
        width: 8,
      }),
    ]);
    throttles.forEach((t, i) => {
      alarm(`Table${i}Throttles`, {
        alarmDescription: `Table ${t.table.node.id}: read or write requests were throttled.`,
        metric: new cw.MathExpression({ expression: 'FILL(r, 0) + FILL(w, 0)', usingMetrics: { r: t.read, w: t.write }, period: PERIOD }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    });
    for (const c of props.streamConsumers) {
      alarm(`${c.fn.node.id}IteratorAge`, {
        alarmDescription: `${c.fn.node.id} is more than a minute behind its stream.`,
        metric: c.fn.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 60_000,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
      });
      if (STREAM_CONSUMERS.some((s) => s.name === c.fn.node.id && s.needs.cdnInvalidation === true)) {
        // A failed purge no longer fails its batch (its pushes went out): this is where it shows.
        const purgeErrors: CdnPurgeMetric = 'CdnPurgeError';
        alarm(`${c.fn.node.id}CdnPurgeErrors`, {
          alarmDescription: `${c.fn.node.id}: CloudFront refused an invalidation or its status check (AccessDenied, unknown distribution): purges are deferred or no longer coalesced.`,
          metric: new cw.Metric({
            namespace: METRICS_NAMESPACE,
            metricName: purgeErrors,
            dimensionsMap: { service: c.fn.serviceName },
            statistic: 'Sum',
            period: PERIOD,
          }),
          threshold: 0,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
        });
      }
      alarm(`${c.fn.node.id}FailedBatches`, {
        alarmDescription: `${c.fn.node.id} gave up on a batch: its on-failure queue has messages.`,
        metric: c.failureQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }

    for (const [first, ...rest] of widgets) {
      // A heading gets a row of its own; the graphs under it share the next one.
      if (first instanceof cw.TextWidget) {
        this.dashboard.addWidgets(first);
        if (rest.length > 0) this.dashboard.addWidgets(...rest);
      } else if (first !== undefined) {
        this.dashboard.addWidgets(first, ...rest);
      }
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
