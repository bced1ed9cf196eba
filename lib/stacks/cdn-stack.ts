/**
 * CDN: one CloudFront distribution in front of the REST API and a private assets bucket.
 * Behaviours and cache policies come from REST_ROUTES' cache classes (see cdn-behaviours.ts):
 * tenant data is cached per Authorization header and full query string, the marketplace is a
 * shared public cache, everything else (stock, orders, writes, health, unknown paths) is never
 * cached. HTTPS only, compression, security headers, access logs, WAF opt-in.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { RestApiOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { REST_ROUTES } from '../../functions/routes';
import { deriveCdnBehaviours, type CdnCaching } from '../constructs/cdn-behaviours';
import { acknowledge } from '../nag';

export interface CdnStackProps extends StackProps {
  readonly restApi: RestApiBase;
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
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'assets-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const apiHeaders = new cloudfront.ResponseHeadersPolicy(this, 'ApiHeaders', {
      comment: 'shop-edge API: security headers',
      securityHeadersBehavior: securityHeaders("default-src 'none'; frame-ancestors 'none'"),
    });
    const assetHeaders = new cloudfront.ResponseHeadersPolicy(this, 'AssetHeaders', {
      comment: 'shop-edge assets: security headers, immutable for a year',
      securityHeadersBehavior: securityHeaders("default-src 'self'; frame-ancestors 'none'"),
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

    const apiOrigin = new RestApiOrigin(props.restApi);
    const apiBehaviour = (caching: CdnCaching): cloudfront.BehaviorOptions => ({
      origin: apiOrigin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
      cachePolicy: policies[caching],
      // Everything but Host (API Gateway routes on its own host name). With caching disabled this
      // also forwards Authorization; cached behaviours forward it through the cache key.
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: apiHeaders,
      compress: true,
    });

    const additionalBehaviors: Record<string, cloudfront.BehaviorOptions> = {
      '/assets/*': {
        origin: S3BucketOrigin.withOriginAccessControl(this.assetsBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: assetsPolicy,
        responseHeadersPolicy: assetHeaders,
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
      certificate: props.customDomain
        ? Certificate.fromCertificateArn(this, 'Certificate', props.customDomain.certificateArn)
        : undefined,
      // Never keep an error longer than the origin says (API Gateway errors carry no-store).
      errorResponses: [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504].map((httpStatus) => ({
        httpStatus,
        ttl: Duration.seconds(0),
      })),
    });

    acknowledge(this.distribution, {
      id: 'AwsSolutions-CFR1',
      reason: 'The shops sell to customers in any country; no geographic restriction is wanted.',
    });
    if (props.webAclArn === undefined) {
      acknowledge(this.distribution, {
        id: 'AwsSolutions-CFR2',
        reason:
          'The WAF is opt-in (-c webAclArn=<CLOUDFRONT-scoped web ACL in us-east-1>); API Gateway throttling and the authorizer protect the API without it.',
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
