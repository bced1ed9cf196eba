/**
 * A mutated copy of a synthesized cloud assembly, for tests that show what a deployment of a
 * changed template would do: the manifest and templates are copied into a temporary directory
 * (and edited there), every bundled asset is linked, not copied. The assembly it came from is never
 * touched.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Template, TemplateResource } from '../../local/deployed/assembly';

export interface AssemblyCopy {
  readonly directory: string;
  remove(): Promise<void>;
}

type Resources = Record<string, TemplateResource & { Properties: Record<string, unknown> }>;

/** Copies `source` and lets `edit` change each stack's template (by stack name) before it is written. */
export async function copyAssembly(source: string, edit: (stack: string, resources: Resources) => void): Promise<AssemblyCopy> {
  const directory = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'shop-edge-assembly-'));
  const manifest = JSON.parse(await fs.promises.readFile(path.join(source, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const templates = new Map<string, string>();
  for (const [name, artifact] of Object.entries(manifest.artifacts ?? {})) {
    const file = artifact.properties?.templateFile;
    if (artifact.type === 'aws:cloudformation:stack' && file !== undefined) templates.set(file, name);
  }
  for (const entry of await fs.promises.readdir(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(directory, entry.name);
    const stack = templates.get(entry.name);
    if (stack !== undefined) {
      const template = JSON.parse(await fs.promises.readFile(from, 'utf8')) as Template;
      edit(stack, template.Resources as Resources);
      await fs.promises.writeFile(to, JSON.stringify(template, null, 1));
    } else if (entry.isDirectory() || entry.name.startsWith('asset.')) {
      await fs.promises.symlink(from, to);
    } else {
      await fs.promises.copyFile(from, to);
    }
  }
  return { directory, remove: () => fs.promises.rm(directory, { recursive: true, force: true }) };
}

/** Whether a logical id is `name` plus the 8-character hash the CDK appends. */
export function isNamed(logicalId: string, name: string): boolean {
  return logicalId.startsWith(name) && /^[0-9A-F]{8}$/.test(logicalId.slice(name.length));
}

/** The resource of `type` named `name` (and the CDK's hash); throws when there is not exactly one. */
export function resourceStartingWith(resources: Resources, type: string, name: string): Resources[string] {
  const found = Object.entries(resources).filter(([id, r]) => r.Type === type && isNamed(id, name));
  if (found.length !== 1) throw new Error(`expected one ${type} named ${name}*, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  return (found[0] as [string, Resources[string]])[1];
}
