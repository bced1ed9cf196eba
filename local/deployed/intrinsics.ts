/**
 * CloudFormation's intrinsic functions, evaluated the way a deployment would, against local
 * physical values: Ref and Fn::GetAtt of resources (asked of a `PhysicalValues`), pseudo
 * parameters, template parameters (SSM-typed ones from the local parameter store),
 * Fn::ImportValue through the other stacks' exports, Fn::Join / Sub / Select / Split / If /
 * GetAZs / FindInMap / Base64, conditions, and dynamic references ({{resolve:...}}).
 *
 * Anything else is a TemplateError naming the stack, the resource and the property path: the
 * as-deployed mode never guesses a value.
 */
import type { CloudAssembly, ResourceRef } from './assembly';

/** Where in the assembly a value was found, for error messages. */
export interface Where {
  readonly stack: string;
  /** The resource (or `Outputs.<name>`, `Conditions.<name>`). */
  readonly logicalId: string;
  /** Property path inside it, e.g. `Environment.Variables.REDIS_URL`. */
  readonly path: string;
}

export class TemplateError extends Error {
  constructor(
    readonly where: Where,
    message: string,
  ) {
    super(`${where.stack}/${where.logicalId}${where.path ? ` ${where.path}` : ''}: ${message}`);
    this.name = 'TemplateError';
  }
}

export interface PseudoParameters {
  readonly region: string;
  readonly accountId: string;
  /** @default aws */
  readonly partition?: string;
  /** @default amazonaws.com */
  readonly urlSuffix?: string;
}

/** What the local deployment gives a resource's Ref and attributes. */
export interface PhysicalValues {
  ref(resource: ResourceRef, where: Where): unknown;
  getAtt(resource: ResourceRef, attribute: string, where: Where): unknown;
}

/** `{{resolve:<service>:<reference>}}`: service is secretsmanager, ssm or ssm-secure. */
export type DynamicReferenceResolver = (service: string, reference: string, where: Where) => string;

/** AWS::NoValue: the property (or list element) is removed. */
const NO_VALUE = Symbol('AWS::NoValue');

const DYNAMIC_REFERENCE = /\{\{resolve:([a-z-]+):([^}]*)\}\}/g;

export class IntrinsicResolver {
  private exports: Map<string, { stack: string; output: string; value: unknown }> | undefined;
  private readonly conditionCache = new Map<string, boolean>();

  constructor(
    private readonly assembly: CloudAssembly,
    private readonly physical: PhysicalValues,
    private readonly pseudo: PseudoParameters,
    private readonly dynamicReference: DynamicReferenceResolver,
    /** Values of SSM parameters, for AWS::SSM::Parameter::Value<...> template parameters. */
    private readonly ssmParameter: (name: string, where: Where) => string = (name, where) => {
      throw new TemplateError(where, `SSM parameter ${name} is not known locally`);
    },
  ) {}

  /** The value with every intrinsic evaluated (deeply). */
  resolve(where: Where, value: unknown): unknown {
    const out = this.evaluate(where, value);
    return out === NO_VALUE ? undefined : out;
  }

  string(where: Where, value: unknown): string {
    const out = this.resolve(where, value);
    if (typeof out === 'string') return out;
    if (typeof out === 'number' || typeof out === 'boolean') return String(out);
    throw new TemplateError(where, `expected a string, got ${describe(out)}`);
  }

  optionalString(where: Where, value: unknown): string | undefined {
    return value === undefined ? undefined : this.string(where, value);
  }

  stringList(where: Where, value: unknown): string[] {
    const out = this.resolve(where, value);
    if (typeof out === 'string') return [out];
    if (Array.isArray(out) && out.every((v) => typeof v === 'string')) return out;
    throw new TemplateError(where, `expected a list of strings, got ${describe(out)}`);
  }

  number(where: Where, value: unknown): number {
    const out = this.resolve(where, value);
    const n = typeof out === 'number' ? out : typeof out === 'string' && out.trim() !== '' ? Number(out) : Number.NaN;
    if (!Number.isFinite(n)) throw new TemplateError(where, `expected a number, got ${describe(out)}`);
    return n;
  }

  /** A string-keyed object of strings (e.g. Environment.Variables). */
  stringMap(where: Where, value: unknown): Record<string, string> {
    if (value === undefined) return {};
    const out = this.resolve(where, value);
    if (!isObject(out)) throw new TemplateError(where, `expected an object, got ${describe(out)}`);
    const result: Record<string, string> = {};
    for (const [key, v] of Object.entries(out)) {
      if (typeof v === 'string') result[key] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') result[key] = String(v);
      else throw new TemplateError({ ...where, path: `${where.path}.${key}` }, `expected a string, got ${describe(v)}`);
    }
    return result;
  }

  /** Whether a resource is part of the deployment (its Condition, if any, holds). */
  included(ref: ResourceRef): boolean {
    return ref.resource.Condition === undefined || this.condition(ref.stack, ref.resource.Condition);
  }

  condition(stack: string, name: string): boolean {
    const key = `${stack}/${name}`;
    const cached = this.conditionCache.get(key);
    if (cached !== undefined) return cached;
    const definition = this.assembly.stack(stack).template.Conditions?.[name];
    const where: Where = { stack, logicalId: `Conditions.${name}`, path: '' };
    if (definition === undefined) throw new TemplateError(where, 'no such condition');
    const value = this.conditionValue(where, definition);
    this.conditionCache.set(key, value);
    return value;
  }

  private conditionValue(where: Where, value: unknown): boolean {
    if (typeof value === 'boolean') return value;
    if (!isObject(value)) throw new TemplateError(where, `not a condition: ${describe(value)}`);
    const [fn, args] = single(where, value);
    const list = (n?: number): unknown[] => {
      if (!Array.isArray(args) || (n !== undefined && args.length !== n)) throw new TemplateError(where, `${fn}: bad arguments`);
      return args;
    };
    switch (fn) {
      case 'Fn::Equals': {
        const [a, b] = list(2).map((v) => this.resolve(where, v));
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::Not':
        return !this.conditionValue(where, list(1)[0]);
      case 'Fn::And':
        return list().every((c) => this.conditionValue(where, c));
      case 'Fn::Or':
        return list().some((c) => this.conditionValue(where, c));
      case 'Condition':
        return this.condition(where.stack, String(args));
      default:
        throw new TemplateError(where, `${fn} is not supported in a condition`);
    }
  }

  private evaluate(where: Where, value: unknown): unknown {
    if (typeof value === 'string') return this.dynamicReferences(where, value);
    if (Array.isArray(value)) {
      return value.map((v, i) => this.evaluate({ ...where, path: `${where.path}[${i}]` }, v)).filter((v) => v !== NO_VALUE);
    }
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    const first = keys[0];
    if (keys.length === 1 && first !== undefined && (first === 'Ref' || first === 'Condition' || first.startsWith('Fn::'))) {
      const result = this.intrinsic(where, first, value[first]);
      // CloudFormation resolves dynamic references once the intrinsics have made the string.
      return typeof result === 'string' ? this.dynamicReferences(where, result) : result;
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const v = this.evaluate({ ...where, path: where.path ? `${where.path}.${key}` : key }, value[key]);
      if (v !== NO_VALUE) out[key] = v;
    }
    return out;
  }

  private intrinsic(where: Where, fn: string, args: unknown): unknown {
    switch (fn) {
      case 'Ref':
        return this.ref(where, args);
      case 'Fn::GetAtt': {
        const [logicalId, ...attribute] = Array.isArray(args) ? args.map(String) : String(args).split('.');
        if (logicalId === undefined || attribute.length === 0)
          throw new TemplateError(where, `Fn::GetAtt: bad arguments ${describe(args)}`);
        return this.physical.getAtt(this.resourceOf(where, logicalId), attribute.join('.'), where);
      }
      case 'Fn::Join': {
        const [delimiter, parts] = this.args(where, fn, args, 2);
        const list = this.resolve(where, parts);
        if (typeof delimiter !== 'string' || !Array.isArray(list)) throw new TemplateError(where, 'Fn::Join: bad arguments');
        return list.map((part) => this.scalar(where, fn, part)).join(delimiter);
      }
      case 'Fn::Sub':
        return this.sub(where, args);
      case 'Fn::Select': {
        const [index, list] = this.args(where, fn, args, 2);
        const items = this.resolve(where, list);
        const i = Number(this.resolve(where, index));
        if (!Array.isArray(items) || !Number.isInteger(i) || i < 0 || i >= items.length) {
          throw new TemplateError(where, `Fn::Select: index ${i} out of ${describe(items)}`);
        }
        return items[i];
      }
      case 'Fn::Split': {
        const [delimiter, source] = this.args(where, fn, args, 2);
        const text = this.resolve(where, source);
        if (typeof delimiter !== 'string' || typeof text !== 'string') throw new TemplateError(where, 'Fn::Split: bad arguments');
        return text.split(delimiter);
      }
      case 'Fn::ImportValue':
        return this.importValue(where, this.string(where, args));
      case 'Fn::If': {
        const [name, whenTrue, whenFalse] = this.args(where, fn, args, 3);
        return this.evaluate(where, this.condition(where.stack, String(name)) ? whenTrue : whenFalse);
      }
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((zone) => `${this.pseudo.region}${zone}`);
      case 'Fn::Base64':
        return Buffer.from(this.string(where, args)).toString('base64');
      case 'Fn::FindInMap': {
        const [map, top, second] = this.args(where, fn, args, 3).map((a) => this.string(where, a));
        const mappings = (
          this.assembly.stack(where.stack).template as { Mappings?: Record<string, Record<string, Record<string, unknown>>> }
        ).Mappings;
        const found = mappings?.[map ?? '']?.[top ?? '']?.[second ?? ''];
        if (found === undefined) throw new TemplateError(where, `Fn::FindInMap: ${map}.${top}.${second} not found`);
        return found;
      }
      default:
        throw new TemplateError(where, `${fn} is not supported by the as-deployed mode`);
    }
  }

  private args(where: Where, fn: string, args: unknown, count: number): unknown[] {
    if (!Array.isArray(args) || args.length !== count) throw new TemplateError(where, `${fn}: expected ${count} arguments`);
    return args;
  }

  private scalar(where: Where, fn: string, value: unknown): string {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new TemplateError(where, `${fn}: ${describe(value)} is not a string`);
  }

  private ref(where: Where, name: unknown): unknown {
    if (typeof name !== 'string') throw new TemplateError(where, `Ref: bad argument ${describe(name)}`);
    switch (name) {
      case 'AWS::Region':
        return this.pseudo.region;
      case 'AWS::AccountId':
        return this.pseudo.accountId;
      case 'AWS::Partition':
        return this.pseudo.partition ?? 'aws';
      case 'AWS::URLSuffix':
        return this.pseudo.urlSuffix ?? 'amazonaws.com';
      case 'AWS::StackName':
        return where.stack;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.pseudo.region}:${this.pseudo.accountId}:stack/${where.stack}/local`;
      case 'AWS::NoValue':
        return NO_VALUE;
      case 'AWS::NotificationARNs':
        return [];
    }
    const parameter = this.assembly.stack(where.stack).template.Parameters?.[name];
    if (parameter !== undefined) {
      if (parameter.Type.startsWith('AWS::SSM::Parameter::Value<')) return this.ssmParameter(String(parameter.Default), where);
      if (parameter.Default === undefined) throw new TemplateError(where, `parameter ${name} has no default`);
      return parameter.Default;
    }
    return this.physical.ref(this.resourceOf(where, name), where);
  }

  private resourceOf(where: Where, logicalId: string): ResourceRef {
    const resource = this.assembly.stack(where.stack).template.Resources[logicalId];
    if (resource === undefined) throw new TemplateError(where, `refers to ${logicalId}, which is not in the stack`);
    return { stack: where.stack, logicalId, resource };
  }

  private sub(where: Where, args: unknown): string {
    const [text, variables] = (Array.isArray(args) ? args : [args, {}]) as unknown[];
    if (typeof text !== 'string' || !isObject(variables)) throw new TemplateError(where, 'Fn::Sub: bad arguments');
    const resolved = this.dynamicReferences(where, text);
    return resolved.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name in variables) return this.scalar(where, 'Fn::Sub', this.resolve(where, variables[name]));
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) {
        return this.scalar(where, 'Fn::Sub', this.physical.getAtt(this.resourceOf(where, name.slice(0, dot)), name.slice(dot + 1), where));
      }
      return this.scalar(where, 'Fn::Sub', this.ref(where, name));
    });
  }

  private importValue(where: Where, name: string): unknown {
    this.exports ??= this.collectExports();
    const found = this.exports.get(name);
    if (found === undefined) throw new TemplateError(where, `Fn::ImportValue ${name}: no stack exports it`);
    return this.resolve({ stack: found.stack, logicalId: `Outputs.${found.output}`, path: 'Value' }, found.value);
  }

  private collectExports(): Map<string, { stack: string; output: string; value: unknown }> {
    const found = new Map<string, { stack: string; output: string; value: unknown }>();
    for (const stack of this.assembly.stacks) {
      for (const [output, definition] of Object.entries(stack.template.Outputs ?? {})) {
        if (definition.Export === undefined) continue;
        const name = this.string({ stack: stack.name, logicalId: `Outputs.${output}`, path: 'Export.Name' }, definition.Export.Name);
        found.set(name, { stack: stack.name, output, value: definition.Value });
      }
    }
    return found;
  }

  private dynamicReferences(where: Where, text: string): string {
    if (!text.includes('{{resolve:')) return text;
    return text.replace(DYNAMIC_REFERENCE, (_, service: string, reference: string) => this.dynamicReference(service, reference, where));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function single(where: Where, value: Record<string, unknown>): [string, unknown] {
  const entries = Object.entries(value);
  const first = entries[0];
  if (entries.length !== 1 || first === undefined) throw new TemplateError(where, `expected one function, got ${describe(value)}`);
  return first;
}

function describe(value: unknown): string {
  // JSON.stringify(undefined) is undefined, whatever its declared type says.
  const text = (JSON.stringify(value) as string | undefined) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
