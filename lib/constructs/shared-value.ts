/**
 * A value one stack hands to the others through an SSM parameter instead of a CloudFormation
 * export: the producer writes `/<stack name>/<key>`, and a consumer's template reads it when that
 * stack deploys (an `AWS::SSM::Parameter::Value<String>` template parameter).
 *
 * Used for every value a documented setting can replace (the cache's endpoint and id, its AUTH
 * secret, the table stream, the REST API and its stage): an exported value in use cannot change,
 * so with an export the producer's update fails ("Cannot update export ... as it is in use"); with
 * a parameter the producer updates it and each consumer picks the new value up on its own next
 * deployment (`cdk deploy --all` deploys the consumers right after the producer; the CDK CLI
 * always deploys a stack that reads SSM parameters, as their values may have changed).
 *
 * Values that stay stable through every documented setting (names of functions, tables, queues,
 * security groups, subnets...) remain ordinary references: their exports keep a producer from
 * being deleted under its consumers. test/infra/replacement.test.ts proves the split.
 */
import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, type IConstruct } from 'constructs';

/** A value that another stack reads at deployment. */
export interface DeployTimeValue {
  /** The value as seen from `scope`'s stack. */
  in(scope: IConstruct): string;
}

export interface SharedValueProps {
  /** Name under the producing stack's: the parameter is /<stack name>/<key>. */
  readonly key: string;
  /** A single attribute or reference (so that it can also be exported, see legacyExport). */
  readonly value: string;
  readonly description: string;
  /**
   * Also export the value as the automatic cross-stack reference did, under the same export
   * name: for the one deployment that moves consumers of an earlier version off the export
   * (docs/deploy.md, "Upgrading from exports").
   * @default false
   */
  readonly legacyExport?: boolean;
}

export class SharedValue extends Construct implements DeployTimeValue {
  public readonly parameterName: string;
  public readonly parameter: ssm.StringParameter;
  private readonly value: string;

  constructor(scope: Construct, id: string, props: SharedValueProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(props.key)) throw new Error(`${props.key}: not an SSM parameter path`);
    this.parameterName = `/${stack.stackName}/${props.key}`;
    this.value = props.value;
    this.parameter = new ssm.StringParameter(this, 'Parameter', {
      parameterName: this.parameterName,
      stringValue: props.value,
      description: `shop-edge: ${props.description} (read by the other stacks at deployment)`,
    });
    if (props.legacyExport === true) stack.exportValue(props.value);
  }

  public in(scope: IConstruct): string {
    const consumer = Stack.of(scope);
    const producer = Stack.of(this);
    if (consumer === producer) return this.value;
    // The parameter is read when the consumer deploys: the producer must have written it before.
    consumer.addStackDependency(producer, `reads ${this.parameterName}`);
    return ssm.StringParameter.valueForStringParameter(consumer, this.parameterName);
  }
}
