/**
 * What CloudFormation would do to an app's stacks going from one synthesized assembly to another,
 * told from @aws-cdk/aws-service-spec's property data (causesReplacement, nested types included):
 * which resources are replaced, which exported values change, and which of those are imported by
 * another stack, which is what makes a producer's update fail ("Cannot update export ... as it is
 * in use").
 *
 * A value changes when its template expression differs, or when it refers to something whose value
 * changes: a replaced resource (every attribute of it, its Ref included), an attribute that an
 * in-place update changes (IN_PLACE_ATTRIBUTE_CHANGES), an export that changes (Fn::ImportValue),
 * or an SSM parameter whose value changes (an AWS::SSM::Parameter::Value template parameter). A
 * resource is replaced when a property that causes replacement ('yes' or 'maybe') changes, or its
 * type does. This runs to a fixpoint across stacks.
 */
import { isDeepStrictEqual } from 'node:util';
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { Property, PropertyType, Resource } from '@aws-cdk/service-spec-types';

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}
export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown; readonly Export?: { readonly Name: unknown } }>;
  readonly Parameters?: Record<string, { readonly Type: string; readonly Default?: unknown }>;
}
/** Templates by stack name. */
export type Assembly = Readonly<Record<string, CfnTemplate>>;

/** Attributes that change on an in-place update of the given property. */
const IN_PLACE_ATTRIBUTE_CHANGES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  // Switching a stream off and on (as a new view type takes) gives it a new ARN.
  'AWS::DynamoDB::Table': { StreamSpecification: ['StreamArn'] },
};

export interface UpdateAnalysis {
  /** `<stack>/<logicalId>` of every resource the update replaces. */
  readonly replaced: string[];
  /** Exports whose value changes while another stack imports them, with who imports them. */
  readonly exportsInUseThatChange: { readonly exportName: string; readonly producer: string; readonly importers: string[] }[];
  /** Exports another stack imports before the update that the producer no longer has. */
  readonly exportsInUseThatDisappear: { readonly exportName: string; readonly producer: string; readonly importers: string[] }[];
  /** SSM parameters (written by a stack, read by others at deployment) whose value changes. */
  readonly parametersThatChange: string[];
}

type SpecDatabase = ReturnType<typeof loadAwsServiceSpecSync>;

let database: SpecDatabase | undefined;
/** The resource specification (about 1.5 s to load; loaded once per test file). */
export function specDatabase(): SpecDatabase {
  database ??= loadAwsServiceSpecSync();
  return database;
}

function resourceSpec(type: string): Resource {
  const found = specDatabase().lookup('resource', 'cloudFormationType', 'equals', type);
  if (found.length !== 1) throw new Error(`${type}: not in @aws-cdk/aws-service-spec (a custom resource needs an entry here)`);
  return found[0] as Resource;
}

/** Whether a custom resource (Custom::*, AWS::CloudFormation::CustomResource) is replaced: when its ServiceToken changes. */
function isCustom(type: string): boolean {
  return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
}

export function analyseUpdate(before: Assembly, after: Assembly): UpdateAnalysis {
  const replaced = new Set<string>();
  const changedAttributes = new Set<string>(); // <stack>/<logicalId>.<attribute>
  const changedExports = new Set<string>();
  const changedParameters = new Set<string>();

  const exportsOf = (assembly: Assembly) => {
    const out = new Map<string, { stack: string; value: unknown }>();
    for (const [stack, template] of Object.entries(assembly)) {
      for (const output of Object.values(template.Outputs ?? {})) {
        if (output.Export !== undefined) out.set(String(output.Export.Name), { stack, value: output.Value });
      }
    }
    return out;
  };
  const beforeExports = exportsOf(before);
  const afterExports = exportsOf(after);

  /** Does `value` in `stack` (of the updated assembly) refer to something whose value changes? */
  const refersToChange = (stack: string, value: unknown): boolean => {
    if (Array.isArray(value)) return value.some((v) => refersToChange(stack, v));
    if (value === null || typeof value !== 'object') return false;
    const obj = value as Record<string, unknown>;
    if (typeof obj.Ref === 'string') {
      if (replaced.has(`${stack}/${obj.Ref}`)) return true;
      const parameter = after[stack]?.Parameters?.[obj.Ref];
      if (parameter?.Type.startsWith('AWS::SSM::Parameter::Value<') === true && changedParameters.has(String(parameter.Default)))
        return true;
    }
    const getAtt = obj['Fn::GetAtt'];
    if (Array.isArray(getAtt)) {
      const [target, attribute] = getAtt as [string, string];
      if (replaced.has(`${stack}/${target}`) || changedAttributes.has(`${stack}/${target}.${attribute}`)) return true;
    }
    const imported = obj['Fn::ImportValue'];
    if (typeof imported === 'string' && changedExports.has(imported)) return true;
    return Object.values(obj).some((v) => refersToChange(stack, v));
  };
  const changes = (stack: string, b: unknown, a: unknown): boolean => !isDeepStrictEqual(b, a) || refersToChange(stack, a);

  /** Would a change of this property (from b to a) replace the resource? */
  const replaces = (stack: string, property: Property | undefined, b: unknown, a: unknown): boolean => {
    if (!changes(stack, b, a)) return false;
    if (property === undefined) return false; // not in the spec: CloudFormation would refuse it anyway
    if (property.causesReplacement === 'yes' || property.causesReplacement === 'maybe') return true;
    return nestedReplaces(stack, property.type, b, a);
  };
  const nestedReplaces = (stack: string, type: PropertyType, b: unknown, a: unknown): boolean => {
    if (type.type === 'ref' && isObject(b) && isObject(a)) {
      const definition = specDatabase().get('typeDefinition', type.reference);
      return [...new Set([...Object.keys(b), ...Object.keys(a)])].some((key) =>
        replaces(stack, definition.properties[key], b[key], a[key]),
      );
    }
    if (type.type === 'array' && Array.isArray(b) && Array.isArray(a)) {
      return a.some((element, i) => i < b.length && nestedReplaces(stack, type.element, b[i], element));
    }
    if (type.type === 'map' && isObject(b) && isObject(a)) {
      return Object.keys(a).some((key) => key in b && nestedReplaces(stack, type.element, b[key], a[key]));
    }
    if (type.type === 'union') return type.types.some((t) => nestedReplaces(stack, t, b, a));
    return false;
  };

  for (let round = 0; ; round++) {
    if (round > 50) throw new Error('the update analysis does not settle');
    const size = replaced.size + changedAttributes.size + changedExports.size + changedParameters.size;
    for (const [stack, template] of Object.entries(after)) {
      const previous = before[stack]?.Resources ?? {};
      for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
        const old = previous[logicalId];
        const key = `${stack}/${logicalId}`;
        if (old === undefined || replaced.has(key)) continue;
        const b = old.Properties ?? {};
        const a = resource.Properties ?? {};
        if (resource.Type === 'AWS::CDK::Metadata') continue;
        if (old.Type !== resource.Type) {
          replaced.add(key);
          continue;
        }
        if (isCustom(resource.Type)) {
          if (changes(stack, b.ServiceToken, a.ServiceToken)) replaced.add(key);
          continue;
        }
        const spec = resourceSpec(resource.Type);
        const names = [...new Set([...Object.keys(b), ...Object.keys(a)])];
        if (names.some((name) => replaces(stack, spec.properties[name], b[name], a[name]))) {
          replaced.add(key);
          continue;
        }
        for (const path of spec.additionalReplacementProperties ?? []) {
          if (changes(stack, pathIn(b, path), pathIn(a, path))) replaced.add(key);
        }
        for (const [name, attributes] of Object.entries(IN_PLACE_ATTRIBUTE_CHANGES[resource.Type] ?? {})) {
          if (changes(stack, b[name], a[name])) for (const attribute of attributes) changedAttributes.add(`${key}.${attribute}`);
        }
        if (resource.Type === 'AWS::SSM::Parameter' && (replaced.has(key) || changes(stack, b.Value, a.Value))) {
          changedParameters.add(String(a.Name));
        }
      }
    }
    for (const [name, { stack, value }] of afterExports) {
      const previous = beforeExports.get(name);
      if (previous !== undefined && changes(stack, previous.value, value)) changedExports.add(name);
    }
    if (replaced.size + changedAttributes.size + changedExports.size + changedParameters.size === size) break;
  }

  const importers = (name: string): string[] =>
    Object.entries(before)
      .filter(([, template]) => importsOf(template).has(name))
      .map(([stack]) => stack);
  const exportsInUseThatChange = [...changedExports]
    .map((exportName) => ({ exportName, producer: afterExports.get(exportName)!.stack, importers: importers(exportName) }))
    .filter((e) => e.importers.length > 0);
  const exportsInUseThatDisappear = [...beforeExports]
    .filter(([name]) => !afterExports.has(name))
    .map(([exportName, { stack }]) => ({ exportName, producer: stack, importers: importers(exportName) }))
    .filter((e) => e.importers.length > 0);
  return {
    replaced: [...replaced].sort(),
    exportsInUseThatChange,
    exportsInUseThatDisappear,
    parametersThatChange: [...changedParameters].sort(),
  };
}

/** Names a template imports with Fn::ImportValue. */
export function importsOf(template: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(template)) {
    for (const v of template) importsOf(v, into);
  } else if (isObject(template)) {
    const imported = template['Fn::ImportValue'];
    if (typeof imported === 'string') into.add(imported);
    for (const v of Object.values(template)) importsOf(v, into);
  }
  return into;
}

function pathIn(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) current = isObject(current) ? current[key] : undefined;
  return current;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
