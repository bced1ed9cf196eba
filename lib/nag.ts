/**
 * cdk-nag acknowledgements. cdk-nag 3 reads CDK's native `Validations.of(scope).acknowledge()`
 * metadata; an acknowledgement covers the scope and everything below it, so we attach each one to
 * the narrowest construct that owns the finding, with the finding's exact id (rule plus finding,
 * e.g. `AwsSolutions-IAM5[Resource::*]`) and a reason specific to that resource.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface Acknowledgement {
  /** Rule id, with the finding in brackets for rules that report several findings per resource. */
  readonly id: string;
  readonly reason: string;
}

export function acknowledge(scope: IConstruct, ...acks: Acknowledgement[]): void {
  for (const ack of acks) {
    if (ack.reason.trim().length < 20) {
      throw new Error(`Acknowledgement ${ack.id} at ${scope.node.path} needs a specific reason`);
    }
  }
  Validations.of(scope).acknowledge(...acks);
}

/** The id of an AwsSolutions-IAM5 finding for a wildcard resource (flattened as cdk-nag does). */
export function wildcardResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(scope).resolve(resource))}]`;
}

/** The id of an AwsSolutions-IAM4 finding for an AWS managed policy. */
export function managedPolicyFinding(scope: IConstruct, policyArn: string): string {
  return `AwsSolutions-IAM4[Policy::${flattenReference(Stack.of(scope).resolve(policyArn))}]`;
}

/** Same flattening as cdk-nag's (not exported) flattenCfnReference, so finding ids match. */
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const obj = node as Record<string, unknown>;
  if (obj['Fn::Join']) {
    const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if (obj['Fn::Sub']) return flattenReference(obj['Fn::Sub']);
  if (obj['Fn::GetAtt']) {
    const [resource, attribute] = obj['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  if (obj['Fn::ImportValue']) return flattenReference(obj['Fn::ImportValue']);
  if (obj.Ref) return `<${flattenReference(obj.Ref)}>`;
  return JSON.stringify(node);
}
