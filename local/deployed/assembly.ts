/**
 * A synthesized CDK cloud assembly (cdk.out) as plain data: its stacks in deployment order, each
 * template's resources, outputs and exports, and where each Lambda function's bundled code is.
 * Nothing here knows what the resources mean; see model.ts for that.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Condition?: string;
  readonly DependsOn?: string | string[];
  readonly Metadata?: Record<string, unknown>;
}

export interface Template {
  readonly Resources: Record<string, TemplateResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown; readonly Export?: { readonly Name: unknown } }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Parameters?: Record<string, { readonly Type: string; readonly Default?: unknown }>;
}

export interface AssemblyStack {
  /** The CloudFormation stack name. */
  readonly name: string;
  readonly template: Template;
  /** Stacks this one depends on (deployed before it). */
  readonly dependencies: readonly string[];
}

/** One resource, with the stack it belongs to. */
export interface ResourceRef {
  readonly stack: string;
  readonly logicalId: string;
  readonly resource: TemplateResource;
}

export class CloudAssembly {
  /** Stacks in an order where every stack comes after the ones it depends on. */
  readonly stacks: readonly AssemblyStack[];
  private readonly byName: ReadonlyMap<string, AssemblyStack>;

  constructor(
    readonly directory: string,
    stacks: readonly AssemblyStack[],
  ) {
    this.byName = new Map(stacks.map((s) => [s.name, s]));
    this.stacks = deploymentOrder(stacks);
  }

  stack(name: string): AssemblyStack {
    const stack = this.byName.get(name);
    if (stack === undefined) throw new Error(`cloud assembly ${this.directory} has no stack ${name}`);
    return stack;
  }

  /** The resource `logicalId` of `stack`; throws, naming both, when there is none. */
  resource(stack: string, logicalId: string): ResourceRef {
    const resource = this.stack(stack).template.Resources[logicalId];
    if (resource === undefined) throw new Error(`${stack}: no resource ${logicalId}`);
    return { stack, logicalId, resource };
  }

  /** Every resource of every stack, in stack order. */
  *resources(type?: string): Generator<ResourceRef> {
    for (const stack of this.stacks) {
      for (const [logicalId, resource] of Object.entries(stack.template.Resources)) {
        if (type === undefined || resource.Type === type) yield { stack: stack.name, logicalId, resource };
      }
    }
  }

  /**
   * The directory holding a resource's bundled asset (`aws:asset:path` metadata), e.g. a Lambda
   * function's code; throws when the resource has none or it is not a directory.
   */
  assetDirectory(ref: ResourceRef): string {
    const assetPath = ref.resource.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') throw new Error(`${ref.stack}/${ref.logicalId}: no aws:asset:path metadata (code not bundled?)`);
    const dir = path.resolve(this.directory, assetPath);
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`${ref.stack}/${ref.logicalId}: asset ${dir} is not a directory`);
    }
    return dir;
  }
}

interface Manifest {
  readonly artifacts?: Record<
    string,
    { readonly type: string; readonly properties?: { readonly templateFile?: string }; readonly dependencies?: readonly string[] }
  >;
}

/** Reads `directory`/manifest.json and every CloudFormation stack template it lists. */
export function readCloudAssembly(directory: string): CloudAssembly {
  const manifestFile = path.join(directory, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  const artifacts = manifest.artifacts ?? {};
  const stackNames = new Set(Object.entries(artifacts).flatMap(([name, a]) => (a.type === 'aws:cloudformation:stack' ? [name] : [])));
  const stacks: AssemblyStack[] = [];
  for (const name of stackNames) {
    const artifact = artifacts[name];
    const templateFile = artifact?.properties?.templateFile;
    if (templateFile === undefined) throw new Error(`${manifestFile}: stack ${name} has no templateFile`);
    const template = JSON.parse(fs.readFileSync(path.join(directory, templateFile), 'utf8')) as Template;
    stacks.push({ name, template, dependencies: (artifact?.dependencies ?? []).filter((d) => stackNames.has(d)) });
  }
  if (stacks.length === 0) throw new Error(`${manifestFile} lists no CloudFormation stack`);
  return new CloudAssembly(directory, stacks);
}

function deploymentOrder(stacks: readonly AssemblyStack[]): AssemblyStack[] {
  const byName = new Map(stacks.map((s) => [s.name, s]));
  const ordered: AssemblyStack[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (stack: AssemblyStack): void => {
    const seen = state.get(stack.name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new Error(`stack dependency cycle through ${stack.name}`);
    state.set(stack.name, 'visiting');
    for (const dep of stack.dependencies) {
      const dependency = byName.get(dep);
      if (dependency !== undefined) visit(dependency);
    }
    state.set(stack.name, 'done');
    ordered.push(stack);
  };
  for (const stack of stacks) visit(stack);
  return ordered;
}
