/**
 * CDN: one CloudFront distribution in front of the REST API and a private assets bucket.
 * Behaviours and cache policies come from REST_ROUTES' cache classes (see functions/cdn/behaviours.ts):
 * tenant data is cached per Authorization header and full query string, the marketplace is a
 * shared public cache, everything else (stock, orders, writes, health, unknown paths) is never
 * cached. HTTPS only, compression, security headers, access logs, a web ACL (required in prod,
 * whose API answers CloudFront only; opt-in in dev). On the tenant-cached behaviour a viewer-request
 * function refuses expired tokens before the cache (lib/edge/expired-token.js).
 *
 * With `page`, the live page (web/) is deployed into the bucket under assets/ by a
 * BucketDeployment, with a config.json naming the WebSocket URL, and the assets' CSP lets it
 * connect there. Its files carry content hashes in their names, so the one-year immutable rule
 * of /assets/* is safe for them; the two entry files with stable names (index.html, config.json)
 * are revalidated by browsers (a viewer-response function) and invalidated on the CDN by every
 * deployment.
 */
import {
  AssetHashType,
  Aws,
  CfnOutput,
  DefaultStackSynthesizer,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS, LOOPBACK_ANY_PORT } from '../../functions/shared/cors';
import { deriveCdnBehaviours, type CdnCaching } from '../../functions/cdn/behaviours';
import { REST_ROUTES } from '../../functions/routes';
import { WEB_ROOT, writePage } from '../../web/build';
import { ASSETS_PREFIX, ENTRY_FILES, type PageConfig } from '../../web/config';
import { pageCsp } from '../../web/csp';
import type { DeployTimeValue } from '../constructs/shared-value';
import { expiredTokenFunctionCode } from '../edge/edge-functions';
import { acknowledge, managedPolicyFinding, wildcardResourceFinding } from '../nag';

export interface CdnStackProps extends StackProps {
  /**
   * The REST API behind the distribution: its id and stage as this stack reads them at deployment
   * (ApiStack.origin; a replaced API or stage changes them, which an export would not allow), or
   * the API construct itself (ordinary references).
   */
  readonly restApi: RestApiBase | { readonly restApiId: DeployTimeValue; readonly stageName: DeployTimeValue };
  /**
   * Origins allowed to call the API from a browser (functions/shared/cors.ts). The API's response
   * headers policy sets the CORS headers per viewer, after the cache, so a cached answer serves
   * every allowed origin and Origin stays out of the cache key.
   * @default - none: the policy sets no CORS headers
   */
  readonly corsOrigins?: readonly string[];
  /**
   * How the API tells clients apart behind the distribution (ApiStack.publicClientLimit): a
   * viewer-request function writes the viewer's address into `viewerAddressHeader` on every API
   * request, and every origin request carries `originHeader`, whose secret value shows it came
   * through here.
   * @default - neither: the API sees the edges' addresses
   */
  readonly clientAddress?: {
    readonly viewerAddressHeader: string;
    readonly originHeader: { readonly name: string; readonly value: string };
  };
  /**
   * Deploy the live page (web/) as /assets/index.html, connecting to this WebSocket stage URL
   * (wss://…/stage: its config.json and its CSP connect-src).
   * @default - no page: the assets bucket is left as it is
   */
  readonly page?: { readonly webSocketUrl: string };
  /**
   * ARN of a WAFv2 web ACL with scope CLOUDFRONT (created in us-east-1) to attach.
   * @default - no web ACL
   */
  readonly webAclArn?: string;
  /**
   * Custom domain and its ACM certificate (us-east-1).
   * @default - the *.cloudfront.net domain and certificate
   */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
  /** Days CloudFront and S3 access logs are kept. */
  readonly accessLogDays: number;
  /** @default cloudfront.PriceClass.PRICE_CLASS_100 */
  readonly priceClass?: cloudfront.PriceClass;
}

/**
 * Noncurrent versions of the assets (the entry files each deployment overwrites) kept for rollback:
 * the newest few, the others for this long.
 */
export const ASSETS_NONCURRENT_VERSIONS = { retain: 3, days: 30 } as const;

/** Upper bound of what the origin may ask a shared cache to keep (s-maxage). */
export const API_MAX_TTL = Duration.minutes(10);
export const ASSETS_TTL = Duration.days(365);

export class CdnStack extends Stack {
  public readonly distribution: cloudfront.Distribution;
  public readonly assetsBucket: s3.Bucket;
  public readonly logBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: CdnStackProps) {
    super(scope, id, props);

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(props.accessLogDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.logBucket, {
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access-log destination of the distribution and the assets bucket; logging it into itself would loop.',
    });
    this.assetsBucket = new s3.Bucket(this, 'Assets', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        {
          id: 'ExpireNoncurrentVersions',
          noncurrentVersionExpiration: Duration.days(ASSETS_NONCURRENT_VERSIONS.days),
          noncurrentVersionsToRetain: ASSETS_NONCURRENT_VERSIONS.retain,
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'assets-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // CloudFront matches origins exactly: the loopback any-port entries stay with API Gateway and
    // the functions (a dev server reaching a deployed API through the distribution gets their
    // headers on uncached answers only).
    const cdnOrigins = (props.corsOrigins ?? []).filter((o) => !(LOOPBACK_ANY_PORT as readonly string[]).includes(o));
    const apiHeaders = new cloudfront.ResponseHeadersPolicy(this, 'ApiHeaders', {
      comment: cdnOrigins.length > 0 ? 'shop-edge API: security headers, CORS' : 'shop-edge API: security headers',
      securityHeadersBehavior: securityHeaders("default-src 'none'; frame-ancestors 'none'"),
      ...(cdnOrigins.length > 0
        ? {
            corsBehavior: {
              accessControlAllowOrigins: cdnOrigins,
              accessControlAllowMethods: [...new Set([...REST_ROUTES.map((r) => r.method), 'OPTIONS'])],
              accessControlAllowHeaders: [...CORS_ALLOW_HEADERS],
              accessControlExposeHeaders: [...CORS_EXPOSE_HEADERS],
              accessControlAllowCredentials: false,
              accessControlMaxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
              // A cached answer carries the Allow-Origin of whoever filled the cache: CloudFront
              // sets each viewer's own instead.
              originOverride: true,
            },
          }
        : {}),
    });
    const assetHeaders = new cloudfront.ResponseHeadersPolicy(this, 'AssetHeaders', {
      comment: 'shop-edge assets: security headers, immutable for a year',
      securityHeadersBehavior: securityHeaders(
        props.page ? pageCsp(props.page.webSocketUrl) : "default-src 'self'; frame-ancestors 'none'",
      ),
      customHeadersBehavior: {
        customHeaders: [{ header: 'Cache-Control', value: `public, max-age=${ASSETS_TTL.toSeconds()}, immutable`, override: true }],
      },
    });

    const policies: Record<CdnCaching, cloudfront.ICachePolicy> = {
      tenant: new cloudfront.CachePolicy(this, 'TenantCache', {
        comment: 'Tenant data: per Authorization and query string; TTL from the origin (s-maxage), at most 10 minutes',
        minTtl: Duration.seconds(0),
        defaultTtl: Duration.seconds(0),
        maxTtl: API_MAX_TTL,
        headerBehavior: cloudfront.CacheHeaderBehavior.allowList('Authorization'),
        queryStringBehavior: cloudfront.CacheQueryStringBehavior.all(),
        cookieBehavior: cloudfront.CacheCookieBehavior.none(),
        enableAcceptEncodingGzip: true,
        enableAcceptEncodingBrotli: true,
      }),
      public: new cloudfront.CachePolicy(this, 'PublicCache', {
        comment: 'Public data shared by every viewer: per query string; TTL from the origin, at most 10 minutes',
        minTtl: Duration.seconds(0),
        defaultTtl: Duration.seconds(0),
        maxTtl: API_MAX_TTL,
        headerBehavior: cloudfront.CacheHeaderBehavior.none(),
        queryStringBehavior: cloudfront.CacheQueryStringBehavior.all(),
        cookieBehavior: cloudfront.CacheCookieBehavior.none(),
        enableAcceptEncodingGzip: true,
        enableAcceptEncodingBrotli: true,
      }),
      none: cloudfront.CachePolicy.CACHING_DISABLED,
    };
    const assetsPolicy = new cloudfront.CachePolicy(this, 'AssetsCache', {
      comment: 'Fingerprinted static assets: one year',
      minTtl: Duration.seconds(0),
      defaultTtl: ASSETS_TTL,
      maxTtl: ASSETS_TTL,
      headerBehavior: cloudfront.CacheHeaderBehavior.none(),
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.none(),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });

    // What RestApiOrigin renders, from the id and stage.
    const api =
      props.restApi instanceof RestApiBase
        ? { id: props.restApi.restApiId, stage: props.restApi.deploymentStage.stageName }
        : { id: props.restApi.restApiId.in(this), stage: props.restApi.stageName.in(this) };
    const apiOrigin = new HttpOrigin(`${api.id}.execute-api.${this.region}.${this.urlSuffix}`, {
      originPath: `/${api.stage}`,
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      ...(props.clientAddress
        ? { customHeaders: { [props.clientAddress.originHeader.name]: props.clientAddress.originHeader.value } }
        : {}),
    });
    const viewerAddress =
      props.clientAddress &&
      new cloudfront.Function(this, 'ViewerAddress', {
        comment: 'shop-edge API: tells the API the viewer address (the per-client limit of the public routes)',
        runtime: cloudfront.FunctionRuntime.JS_2_0,
        code: cloudfront.FunctionCode.fromInline(
          [
            'function handler(event) {',
            // Overwrites whatever the viewer sent in this header.
            `  event.request.headers[${JSON.stringify(props.clientAddress.viewerAddressHeader)}] = { value: event.viewer.ip };`,
            '  return event.request;',
            '}',
          ].join('\n'),
        ),
      });
    // Cached tenant answers are served without the authorizer: an expired token is refused before
    // the cache lookup (lib/edge/expired-token.js). A behaviour takes one viewer-request function,
    // so this one also writes the viewer address.
    const expiredToken = new cloudfront.Function(this, 'ExpiredToken', {
      comment: 'shop-edge API: 401 for an expired bearer token on the cached tenant routes',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(
        expiredTokenFunctionCode({ viewerAddressHeader: props.clientAddress?.viewerAddressHeader, allowedOrigins: cdnOrigins }),
      ),
    });
    const viewerRequest: Record<CdnCaching, cloudfront.IFunction | undefined> = {
      tenant: expiredToken,
      public: viewerAddress,
      none: viewerAddress,
    };
    const apiBehaviour = (caching: CdnCaching): cloudfront.BehaviorOptions => {
      const viewerFunction = viewerRequest[caching];
      return {
        origin: apiOrigin,
        ...(viewerFunction
          ? { functionAssociations: [{ function: viewerFunction, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }] }
          : {}),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        cachePolicy: policies[caching],
        // Everything but Host (API Gateway routes on its own host name). With caching disabled this
        // also forwards Authorization; cached behaviours forward it through the cache key.
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        responseHeadersPolicy: apiHeaders,
        compress: true,
      };
    };

    // Viewer-response functions run after the response headers policy (which sets the immutable
    // Cache-Control): the entry files, whose names never change, are revalidated instead (S3
    // answers If-None-Match with 304).
    const entryPaths = ENTRY_FILES.map((file) => `${ASSETS_PREFIX}${file}`);
    const entryHeaders =
      props.page &&
      new cloudfront.Function(this, 'PageEntryHeaders', {
        comment: 'shop-edge page: index.html and config.json revalidate, hashed assets stay immutable',
        runtime: cloudfront.FunctionRuntime.JS_2_0,
        code: cloudfront.FunctionCode.fromInline(
          [
            'function handler(event) {',
            `  if (${JSON.stringify(entryPaths)}.indexOf(event.request.uri) >= 0) {`,
            "    event.response.headers['cache-control'] = { value: 'no-cache' };",
            '  }',
            '  return event.response;',
            '}',
          ].join('\n'),
        ),
      });

    const additionalBehaviors: Record<string, cloudfront.BehaviorOptions> = {
      '/assets/*': {
        origin: S3BucketOrigin.withOriginAccessControl(this.assetsBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: assetsPolicy,
        responseHeadersPolicy: assetHeaders,
        ...(entryHeaders
          ? { functionAssociations: [{ function: entryHeaders, eventType: cloudfront.FunctionEventType.VIEWER_RESPONSE }] }
          : {}),
        compress: true,
      },
    };
    for (const behaviour of deriveCdnBehaviours(REST_ROUTES)) {
      additionalBehaviors[behaviour.pathPattern] = apiBehaviour(behaviour.caching);
    }

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `shop-edge ${id}`,
      defaultBehavior: apiBehaviour('none'),
      additionalBehaviors,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? cloudfront.PriceClass.PRICE_CLASS_100,
      // Only settable with a custom certificate; the default one has a fixed policy (see CFR4 below).
      minimumProtocolVersion: props.customDomain ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      webAclId: props.webAclArn,
      domainNames: props.customDomain ? [props.customDomain.domainName] : undefined,
      certificate: props.customDomain ? Certificate.fromCertificateArn(this, 'Certificate', props.customDomain.certificateArn) : undefined,
      // Never keep an error longer than the origin says (API Gateway errors carry no-store).
      errorResponses: [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504].map((httpStatus) => ({
        httpStatus,
        ttl: Duration.seconds(0),
      })),
    });

    if (props.page) this.deployPage(props.page.webSocketUrl, entryPaths);

    const domainName = props.customDomain?.domainName ?? this.distribution.distributionDomainName;
    new CfnOutput(this, 'DistributionDomainName', {
      description: props.customDomain
        ? `CloudFront domain: point ${props.customDomain.domainName} at it (DNS, docs/deploy.md)`
        : 'CloudFront domain: the API is https://<this>/api/..., the page https://<this>/assets/index.html',
      value: this.distribution.distributionDomainName,
    });
    if (props.page) {
      new CfnOutput(this, 'PageUrl', {
        description: 'The live dashboard page, served by the distribution from the assets bucket',
        value: `https://${domainName}${ASSETS_PREFIX}index.html`,
      });
    }

    acknowledge(this.distribution, {
      id: 'AwsSolutions-CFR1',
      reason: 'The shops sell to customers in any country; no geographic restriction is wanted.',
    });
    if (props.webAclArn === undefined) {
      acknowledge(this.distribution, {
        id: 'AwsSolutions-CFR2',
        reason:
          'The WAF at the edge is opt-in outside prod (-c webAclArn=<CLOUDFRONT-scoped web ACL in us-east-1>; prod requires it); the API stage has its own regional web ACL (the per-client limit of the public routes), API Gateway throttling and the authorizer.',
      });
    }
    if (props.customDomain === undefined) {
      acknowledge(this.distribution, {
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain the distribution uses the *.cloudfront.net certificate, whose minimum protocol CloudFront fixes; with -c domainName/certificateArn the minimum is TLSv1.2_2021.',
      });
    }
  }

  /**
   * The page (web/, built by esbuild during synthesis, no Docker) and its config.json into
   * assets/. Old hashed files stay (prune: false): a page loaded before a deployment still finds
   * its script; the entry files are invalidated on the CDN.
   */
  private deployPage(webSocketUrl: string, entryPaths: readonly string[]): void {
    const config: PageConfig = { apiBaseUrl: '', wsUrl: webSocketUrl };
    new BucketDeployment(this, 'Page', {
      sources: [
        Source.asset(WEB_ROOT, {
          // The bundle also holds client/src: hash what is built, not web/ alone.
          assetHashType: AssetHashType.OUTPUT,
          bundling: {
            image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24-slim'), // never pulled: local bundling
            local: {
              tryBundle(outputDir: string) {
                writePage(outputDir);
                return true;
              },
            },
          },
        }),
        Source.jsonData('config.json', config),
      ],
      destinationBucket: this.assetsBucket,
      destinationKeyPrefix: ASSETS_PREFIX.slice(1),
      prune: false,
      distribution: this.distribution,
      distributionPaths: [...entryPaths],
    });

    // The deployment's handler is aws-cdk-lib's own singleton function, created at the stack's root.
    const handler = this.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (handler === undefined) throw new Error('the BucketDeployment handler was not found (aws-cdk-lib changed its id?)');
    const synthesizer = this.synthesizer;
    const qualifier =
      (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ??
      DefaultStackSynthesizer.DEFAULT_QUALIFIER;
    const cdkAssets = `arn:${Aws.PARTITION}:s3:::cdk-${qualifier}-assets-${this.account}-${this.region}/*`;
    const why = "aws-cdk-lib's BucketDeployment handler, which copies the page from the CDK asset bucket into the assets bucket";
    acknowledge(
      handler,
      {
        id: managedPolicyFinding(handler, `arn:${Aws.PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`),
        reason: `${why}: the managed policy only lets it write its own logs.`,
      },
      { id: 'AwsSolutions-L1', reason: `${why}: aws-cdk-lib pins its runtime and moves it with aws-cdk-lib upgrades.` },
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => ({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: `${why}: aws-cdk-lib grants read on the source and read-write on the destination bucket with these action groups.`,
      })),
      {
        id: wildcardResourceFinding(handler, this.assetsBucket.arnForObjects('*')),
        reason: `${why}: it writes any object of the private assets bucket (the page's hashed file names are not known before the build).`,
      },
      {
        id: wildcardResourceFinding(handler, cdkAssets),
        reason: `${why}: it reads the page's zip from the bootstrap asset bucket, whose object keys are content hashes.`,
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `${why}: cloudfront:CreateInvalidation and GetInvalidation (for index.html and config.json) take no resource ARN in aws-cdk-lib's grant.`,
      },
    );
  }
}

function securityHeaders(csp: string): cloudfront.ResponseSecurityHeadersBehavior {
  return {
    contentSecurityPolicy: { contentSecurityPolicy: csp, override: true },
    contentTypeOptions: { override: true },
    frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
    referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
    strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
    xssProtection: { protection: false, override: true },
  };
}
