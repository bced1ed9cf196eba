/**
 * Builds the shop-edge app the way `cdk synth` does (cdk.json context, cdk-nag plugin), with
 * bundling skipped for speed, and reads its templates and cdk-nag findings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Validations, type App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createShopEdgeApp, type ShopEdgeApp, type ShopEdgeStacks } from '../../lib/shop-edge';

const CDK_JSON = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** A CLOUDFRONT-scoped web ACL, as prod requires one for its distribution. */
export const PROD_WEB_ACL = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop-edge-prod/0a1b2c3d';

/** Context a prod synth needs beyond cdk.json (the JWT issuer and the edge web ACL are per deployment). */
export const PROD_CONTEXT = {
  env: 'prod',
  jwtIssuer: 'https://auth.example.com/',
  jwtAudience: 'shop-edge',
  jwtJwksUrl: 'https://auth.example.com/.well-known/jwks.json',
  webAclArn: PROD_WEB_ACL,
};

export type StackName = keyof ShopEdgeStacks;

export interface SynthesizedShopEdge extends ShopEdgeApp {
  readonly templates: Readonly<Record<StackName, Template>>;
  /** Directory of the cloud assembly (holds validation-report.json). */
  readonly assemblyDir: string;
}

/** Cloud assemblies of this test file, removed after it. */
const OUT_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'shop-edge-infra-'));
afterAll(() => fs.rmSync(OUT_ROOT, { recursive: true, force: true }));

/** cdk.json context plus overrides; `aws:cdk:bundling-stacks: []` skips esbuild (asset hashes only). */
export function contextWith(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [], ...overrides };
}

/**
 * Context in which one environment's cdk.json profile is `patch` merged over it (objects merge,
 * other values replace): for the settings that have no flat -c key (the cache port, windows,
 * throttling, retention...).
 */
export function profilePatch(envName: string, patch: Record<string, unknown>): Record<string, unknown> {
  const environments = CDK_JSON.context.environments as Record<string, Record<string, unknown>>;
  const profile = environments[envName];
  if (profile === undefined) throw new Error(`cdk.json has no ${envName} profile`);
  const merged: Record<string, unknown> = { ...profile };
  for (const [key, value] of Object.entries(patch)) {
    const current = profile[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? { ...current, ...value } : value;
  }
  return { environments: { ...environments, [envName]: merged } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A fresh cloud assembly directory, removed with the others after the test file. */
export function tempOutdir(): string {
  return fs.mkdtempSync(path.join(OUT_ROOT, 'cdk.out-'));
}

/** The app as bin/shop-edge.ts builds it (with the cdk-nag plugin), not synthesized yet. */
export function buildApp(overrides: Record<string, unknown> = {}): ShopEdgeApp {
  return createShopEdgeApp({ context: contextWith(overrides), outdir: tempOutdir() });
}

export function synthesize(overrides: Record<string, unknown> = {}): SynthesizedShopEdge {
  const shopEdge = buildApp(overrides);
  // Synthesis prints its validation report (our deliberate construct warnings) to stderr; when it
  // fails, the thrown error carries the same report.
  const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  let assembly;
  try {
    assembly = shopEdge.app.synth();
  } finally {
    quiet.mockRestore();
  }
  const templates = Object.fromEntries(Object.entries(shopEdge.stacks).map(([name, stack]) => [name, Template.fromStack(stack)])) as Record<
    StackName,
    Template
  >;
  return { ...shopEdge, templates, assemblyDir: assembly.directory };
}

export interface NagFinding {
  readonly rule: string;
  readonly severity: string;
  readonly paths: readonly string[];
}

/**
 * Every cdk-nag AwsSolutions finding that is not acknowledged, errors and warnings alike, from both
 * places cdk-nag 3 reports them: the validation report CDK writes during synthesis (when given the
 * assembly directory), and a direct run of the pack over the construct tree (acknowledgements are
 * honoured by both).
 */
export function unacknowledgedFindings(app: App, assemblyDir?: string): NagFinding[] {
  const findings: NagFinding[] = [];
  const reportFile = assemblyDir !== undefined ? path.join(assemblyDir, 'validation-report.json') : undefined;
  if (reportFile !== undefined && fs.existsSync(reportFile)) {
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as {
      pluginReports: {
        pluginName: string;
        violations: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[];
      }[];
    };
    for (const plugin of report.pluginReports.filter((p) => p.pluginName === 'AwsSolutions')) {
      for (const v of plugin.violations) {
        findings.push({ rule: v.ruleName, severity: v.severity, paths: (v.violatingConstructs ?? []).map((c) => c.constructPath) });
      }
    }
  }
  const direct = new AwsSolutionsChecks().validateScope(app);
  for (const v of direct.violations) {
    findings.push({ rule: v.ruleName, severity: v.severity ?? 'unknown', paths: v.violatingResources.map((r) => r.constructPath ?? '?') });
  }
  return findings;
}

/** Every acknowledgement recorded in the tree: rule id → reasons. */
export function acknowledgements(root: IConstruct): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        const rule = id.replace(/^annotation::/i, '');
        out.set(rule, [...(out.get(rule) ?? []), reason]);
      }
    }
  }
  return out;
}

/** Resources of one type in a template, by logical id. */
export function resourcesOf(
  template: Template,
  type: string,
): Record<string, { Properties?: Record<string, unknown>; [k: string]: unknown }> {
  return template.findResources(type);
}

/** The single resource of a type whose logical id starts with `prefix` (route names are construct ids). */
export function resourceNamed(template: Template, type: string, prefix: string): { Properties: Record<string, unknown> } {
  const matches = Object.entries(resourcesOf(template, type)).filter(([id]) => new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id));
  if (matches.length !== 1)
    throw new Error(`expected one ${type} named ${prefix}, found ${matches.map(([id]) => id).join(', ') || 'none'}`);
  return matches[0]![1] as { Properties: Record<string, unknown> };
}
