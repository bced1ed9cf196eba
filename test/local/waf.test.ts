/**
 * The as-deployed mode's reading of the public routes' web ACL (local/deployed/waf.ts), from the
 * template the real construct synthesizes: requests straight to the stage are counted by source
 * address, requests through CloudFront (bearing the origin secret) by the viewer address the
 * distribution writes, a request with the secret and no valid viewer address is blocked, other
 * paths are not counted, and a block answers with the web ACL's custom response. A statement the
 * mode cannot honour stops it, naming where.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { Template } from 'aws-cdk-lib/assertions';
import { PublicClientLimit } from '../../lib/constructs/public-client-limit';
import { ClientLimiter } from '../../local/client-limiter';
import { TemplateError } from '../../local/deployed/intrinsics';
import { readWebAclLimits } from '../../local/deployed/waf';
import type { ClientLimitDefinition, InspectedRequest } from '../../local/rest-api';

const SECRET = 'origin-secret-value';
const LIMIT = 10;
const at = { stack: 'Test', logicalId: 'WebAcl', path: '' };

/** The web ACL's properties as CloudFormation would resolve them (the origin secret's value in place of its dynamic reference). */
const PREVIOUS_VERSION = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const PREVIOUS_SECRET = 'previous-origin-secret-value';

function webAclProperties(options: { cdnOnly?: boolean; previousSecretVersion?: string } = {}): Record<string, unknown> {
  const stack = new Stack(new App(), 'Test');
  const api = new apigateway.RestApi(stack, 'Api', { deployOptions: { stageName: 'dev' } });
  api.root.addResource('health').addMethod('GET', new apigateway.MockIntegration());
  new PublicClientLimit(stack, 'Limit', {
    stage: api.deploymentStage,
    paths: ['/health', '/api/marketplace/products'],
    requests: LIMIT,
    windowSeconds: 60,
    cdnOnly: options.cdnOnly,
    previousSecretVersion: options.previousSecretVersion,
  });
  const [acl] = Object.values(Template.fromStack(stack).findResources('AWS::WAFv2::WebACL')) as { Properties: Record<string, unknown> }[];
  // The only intrinsics in it: the secret's dynamic reference, and Joins with the stage's Ref.
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    if (JSON.stringify(value).includes('resolve:secretsmanager') && 'Fn::Join' in value)
      return JSON.stringify(value).includes(PREVIOUS_VERSION) ? PREVIOUS_SECRET : SECRET;
    if ('Ref' in value) return 'dev';
    if ('Fn::Join' in value) {
      const [delimiter, parts] = value['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(delimiter);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve(acl?.Properties) as Record<string, unknown>;
}

const request = (path: string, sourceIp: string, headers: Record<string, string> = {}): InspectedRequest => ({ path, headers, sourceIp });

/** How many of `n` identical requests pass, and the refusal of the first refused one. */
function send(limiter: ClientLimiter, limits: readonly ClientLimitDefinition[], n: number, r: InspectedRequest) {
  let passed = 0;
  let refusal: ReturnType<ClientLimiter['check']>;
  for (let i = 0; i < n; i++) {
    const verdict = limiter.check(limits, r);
    if (verdict === undefined) passed += 1;
    else refusal ??= verdict;
  }
  return { passed, refusal };
}

describe("the public routes' web ACL, as the as-deployed mode reads it", () => {
  const limits = readWebAclLimits(at, webAclProperties());

  it('counts direct requests to the public paths by source address, with or without the stage in the path', () => {
    const limiter = new ClientLimiter();
    const first = send(limiter, limits, LIMIT / 2, request('/dev/health', '10.0.0.1'));
    const second = send(limiter, limits, LIMIT, request('/api/marketplace/products/', '10.0.0.1'));
    expect([first.passed, second.passed]).toEqual([LIMIT / 2, LIMIT / 2]);
    expect(second.refusal?.limit.name).toBe('PublicClientsDirect');
    expect(second.refusal?.limit.block).toEqual({
      statusCode: 429,
      headers: { 'Content-Type': 'application/json', 'Retry-After': '60', 'Cache-Control': 'no-store' },
      body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Too many requests' } }),
    });
    // Another address, and a path that is not public, are not affected.
    expect(send(limiter, limits, LIMIT, request('/health', '10.0.0.2')).passed).toBe(LIMIT);
    expect(send(limiter, limits, 3 * LIMIT, request('/api/products', '10.0.0.1')).passed).toBe(3 * LIMIT);
  });

  it('counts requests bearing the origin secret by the viewer address, and a wrong secret by the source address', () => {
    const limiter = new ClientLimiter();
    const viaCdn = (viewer: string) =>
      request('/dev/health', '52.46.0.1', { 'x-shop-edge-origin': SECRET, 'x-shop-edge-viewer-address': viewer });
    expect(send(limiter, limits, LIMIT + 1, viaCdn('198.51.100.7'))).toMatchObject({
      passed: LIMIT,
      refusal: { limit: { name: 'PublicClientsViaCdn' } },
    });
    // Other viewers behind the same edge address go on.
    expect(send(limiter, limits, LIMIT, viaCdn('198.51.100.8')).passed).toBe(LIMIT);
    // Claiming a viewer address without the secret gains nothing: counted by the source address.
    const forged = request('/health', '10.0.0.9', { 'x-shop-edge-origin': 'guess', 'x-shop-edge-viewer-address': '198.51.100.99' });
    expect(send(limiter, limits, LIMIT + 1, forged)).toMatchObject({ passed: LIMIT, refusal: { limit: { name: 'PublicClientsDirect' } } });
  });

  it('blocks a request with the secret and no valid viewer address (the fallback of the forwarded address is MATCH)', () => {
    const limiter = new ClientLimiter();
    const noViewer = request('/health', '52.46.0.1', { 'x-shop-edge-origin': SECRET, 'x-shop-edge-viewer-address': 'not-an-address' });
    expect(send(limiter, limits, 1, noViewer)).toMatchObject({ passed: 0, refusal: { limit: { name: 'PublicClientsViaCdn' } } });
  });

  it('stops on a statement it cannot honour, naming the property', () => {
    const properties = webAclProperties();
    const rules = properties.Rules as { Statement: { RateBasedStatement: Record<string, unknown> } }[];
    const rule = rules[0];
    if (rule === undefined) throw new Error('no rule');
    rule.Statement.RateBasedStatement.ScopeDownStatement = { GeoMatchStatement: { CountryCodes: ['FR'] } };
    expect(() => readWebAclLimits(at, properties)).toThrow(TemplateError);
    expect(() => readWebAclLimits(at, properties)).toThrow(
      /Rules\[0\]\.Statement\.RateBasedStatement\.ScopeDownStatement\.GeoMatchStatement/,
    );
  });
});

describe('the web ACL of a stage that only answers CloudFront (cdnOnly), as the as-deployed mode reads it', () => {
  const limits = readWebAclLimits(at, webAclProperties({ cdnOnly: true }));
  const forbidden = {
    statusCode: 403,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    body: JSON.stringify({ error: { code: 'FORBIDDEN', message: 'Request blocked' } }),
  };

  it('blocks every request without the origin secret, on any path, with the 403 of the web ACL', () => {
    const limiter = new ClientLimiter();
    for (const r of [
      request('/dev/health', '10.0.0.1'),
      request('/dev/api/products', '10.0.0.1', { authorization: 'Bearer x' }),
      request('/dev/no-such-route', '10.0.0.1'),
      request('/dev/api/products', '10.0.0.1', { 'x-shop-edge-origin': 'guess', 'x-shop-edge-viewer-address': '198.51.100.7' }),
      request('/dev/api/products', '10.0.0.1', { 'x-shop-edge-origin': `${SECRET}x` }),
    ]) {
      const verdict = limiter.check(limits, r);
      expect([r.path, verdict?.limit.name, verdict?.limit.block]).toEqual([r.path, 'OnlyViaCdn', forbidden]);
    }
  });

  it('lets requests bearing the secret through, still counted per viewer on the public routes', () => {
    const limiter = new ClientLimiter();
    const viaCdn = (path: string, viewer: string) =>
      request(path, '52.46.0.1', { 'x-shop-edge-origin': SECRET, 'x-shop-edge-viewer-address': viewer });
    expect(send(limiter, limits, 3 * LIMIT, viaCdn('/dev/api/products', '198.51.100.7')).passed).toBe(3 * LIMIT);
    expect(send(limiter, limits, LIMIT + 1, viaCdn('/dev/health', '198.51.100.7'))).toMatchObject({
      passed: LIMIT,
      refusal: { limit: { name: 'PublicClientsViaCdn' } },
    });
  });

  it('stops on a plain rule whose action it cannot honour, naming it', () => {
    const properties = webAclProperties({ cdnOnly: true });
    const [rule] = properties.Rules as { Name: string; Action: unknown }[];
    expect(rule!.Name).toBe('OnlyViaCdn');
    rule!.Action = { Count: {} };
    expect(() => readWebAclLimits(at, properties)).toThrow(/Rules\[0\]\.Action: only Block actions are supported/);
  });
});

describe('the same web ACL during a rotation of the origin secret (previousSecretVersion)', () => {
  const limits = readWebAclLimits(at, webAclProperties({ cdnOnly: true, previousSecretVersion: PREVIOUS_VERSION }));

  it('accepts the current and the previous value, counted per viewer alike, and nothing else', () => {
    const limiter = new ClientLimiter();
    const bearing = (secret: string) =>
      request('/dev/health', '52.46.0.1', { 'x-shop-edge-origin': secret, 'x-shop-edge-viewer-address': '198.51.100.7' });
    expect(send(limiter, limits, LIMIT / 2, bearing(PREVIOUS_SECRET)).passed).toBe(LIMIT / 2);
    // One viewer, whichever value its edge sends: the same count.
    expect(send(limiter, limits, LIMIT, bearing(SECRET))).toMatchObject({
      passed: LIMIT / 2,
      refusal: { limit: { name: 'PublicClientsViaCdn' } },
    });
    expect(limiter.check(limits, bearing('another-value'))?.limit.name).toBe('OnlyViaCdn');
  });
});
