/**
 * The page as the CDN stack deploys it (CdnStack's `page`): a BucketDeployment of the built page
 * (esbuild during synthesis, no Docker) and a config.json into assets/, old hashed files kept,
 * the entry files invalidated; the entry files revalidate while hashed assets stay immutable;
 * the CSP lets the page reach the WebSocket stage; no unacknowledged cdk-nag finding.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CdnStack } from '../../lib/stacks/cdn-stack';

jest.setTimeout(120_000);

const WS_URL = 'wss://abc123defg.execute-api.eu-west-1.amazonaws.com/dev';
const env = { account: '111111111111', region: 'eu-west-1' };
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'shop-edge-page-'));
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

function cdnWith(page: boolean): { app: App; cdn: CdnStack; template: Template } {
  const app = new App({ outdir: page ? outdir : fs.mkdtempSync(path.join(outdir, 'no-page-')) });
  const apiStack = new Stack(app, 'Api', { env });
  const api = new RestApi(apiStack, 'Api');
  api.root.addMethod('GET', new MockIntegration());
  const cdn = new CdnStack(app, 'Cdn', { env, restApi: api, accessLogDays: 30, ...(page ? { page: { webSocketUrl: WS_URL } } : {}) });
  return { app, cdn, template: Template.fromStack(cdn) };
}

const { app, cdn, template } = cdnWith(true);

describe('the page on the CDN (CdnStack page)', () => {
  it('deploys the built page and its config.json into assets/, keeping old files, invalidating the entry files', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: Match.stringLikeRegexp('^Assets') },
      DestinationBucketKeyPrefix: 'assets/',
      Prune: false,
      DistributionPaths: ['/assets/index.html', '/assets/config.json'],
    });
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    expect((deployment!.Properties as { SourceObjectKeys: unknown[] }).SourceObjectKeys).toHaveLength(2); // the page, config.json
  });

  it('builds the page during synthesis (index.html pointing at hashed files) and writes config.json for AWS', () => {
    app.synth();
    const assetDirs = fs
      .readdirSync(outdir)
      .filter((d) => d.startsWith('asset.'))
      .map((d) => path.join(outdir, d));
    const pages = assetDirs.filter((d) => fs.existsSync(path.join(d, 'index.html')));
    expect(pages).toHaveLength(1);
    const files = fs.readdirSync(pages[0]!);
    expect(files.filter((f) => /^app-[A-Z0-9]+\.js$/.test(f))).toHaveLength(1);
    const html = fs.readFileSync(path.join(pages[0]!, 'index.html'), 'utf8');
    for (const [, ref] of html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)) expect(files).toContain(ref);

    const configs = assetDirs.filter((d) => fs.existsSync(path.join(d, 'config.json')));
    expect(configs).toHaveLength(1);
    // Same-origin REST, the WebSocket stage, no dev tokens (the page then asks for a token).
    expect(JSON.parse(fs.readFileSync(path.join(configs[0]!, 'config.json'), 'utf8'))).toEqual({ apiBaseUrl: '', wsUrl: WS_URL });
  });

  it('revalidates index.html and config.json in browsers; every other asset stays immutable for a year', () => {
    const [, fn] = Object.entries(template.findResources('AWS::CloudFront::Function')).find(([id]) => id.startsWith('PageEntryHeaders'))!;
    const code = String(fn.Properties.FunctionCode);
    expect(code).toContain('["/assets/index.html","/assets/config.json"]');
    expect(code).toContain("'no-cache'");
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        CacheBehaviors: Match.arrayWith([
          Match.objectLike({
            PathPattern: '/assets/*',
            FunctionAssociations: [{ EventType: 'viewer-response', FunctionARN: Match.anyValue() }],
          }),
        ]),
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        CustomHeadersConfig: { Items: [{ Header: 'Cache-Control', Value: 'public, max-age=31536000, immutable', Override: true }] },
        SecurityHeadersConfig: Match.objectLike({
          ContentSecurityPolicy: {
            ContentSecurityPolicy: Match.stringLikeRegexp(`connect-src 'self' ${WS_URL.replace(/\./g, '\\.')}`),
            Override: true,
          },
        }),
      }),
    });
  });

  it('leaves cdk-nag nothing unacknowledged', () => {
    const violations = new AwsSolutionsChecks()
      .validateScope(cdn)
      .violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(violations).toEqual([]);
  });

  it('changes nothing without `page`', () => {
    const plain = cdnWith(false).template;
    expect(Object.keys(plain.findResources('Custom::CDKBucketDeployment'))).toEqual([]);
    expect(Object.keys(plain.findResources('AWS::CloudFront::Function')).filter((id) => id.startsWith('PageEntryHeaders'))).toEqual([]);
    plain.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          ContentSecurityPolicy: { ContentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'", Override: true },
        }),
      }),
    });
  });
});
