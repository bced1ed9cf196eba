/**
 * REST API: a regional API Gateway generated from REST_ROUTES, one function per route, a cached
 * Lambda REQUEST authorizer on the Authorization header, request validation, stage throttling,
 * JSON access logs, execution logs for errors, X-Ray, and the contract's error shape for every
 * response API Gateway produces itself.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { CORS_ORIGINS_ENV, corsPaths, preflightHeaders, preflightResponseTemplate } from '../../functions/shared/cors';
import { AUTHORIZER, PUBLIC_CLIENT_LIMIT, REST_ROUTES, type RestRoute } from '../../functions/routes';
import type { JwtSettings, ThrottleSettings } from '../config';
import { FUNCTION_SIZES, createRouteFunction, type FunctionResources } from '../constructs/function-needs';
import { addGatewayErrors } from '../constructs/gateway-responses';
import { PublicClientLimit } from '../constructs/public-client-limit';
import { SharedValue, type DeployTimeValue } from '../constructs/shared-value';
import type { ShopFunction } from '../constructs/shop-function';
import { acknowledge, managedPolicyFinding } from '../nag';

export interface ApiStackProps extends StackProps {
  readonly resources: FunctionResources;
  readonly stageName: string;
  readonly throttle: ThrottleSettings;
  readonly jwt: JwtSettings;
  /** Also export the shared values as an earlier version did (see SharedValueProps.legacyExport). */
  readonly legacyExports?: boolean;
  /** Origins allowed to call the API from a browser (functions/shared/cors.ts). @default none */
  readonly corsOrigins?: readonly string[];
  /** Refuse (403) every request that did not come through CloudFront (PublicClientLimit). @default false */
  readonly cdnOnly?: boolean;
  /** During a rotation of the origin secret: the version CloudFront may still send (PublicClientLimit). */
  readonly previousOriginSecretVersion?: string;
}

/** Environment of an authorizer function (functions/shared/config.ts, authConfig). */
export function jwtEnvironment(jwt: JwtSettings): Record<string, string> {
  return { JWT_ISSUER: jwt.issuer, JWT_AUDIENCE: jwt.audience, JWT_JWKS_URL: jwt.jwksUrl };
}

export class ApiStack extends Stack {
  public readonly api: apigateway.RestApi;
  public readonly authorizerFunction: ShopFunction;
  /** One function per REST route, by route name. */
  public readonly routeFunctions: ReadonlyMap<string, ShopFunction>;
  /** The key the list routes sign their page cursors with (functions/http/cursors.ts). */
  public readonly cursorKey: secretsmanager.Secret;
  /** The public routes' per-client limit: the stage's web ACL, and what CloudFront must send it. */
  public readonly publicClientLimit: PublicClientLimit;
  /** The REST API's id and stage name, for the CDN's origin (read at deployment, not exported). */
  public readonly origin: { readonly restApiId: DeployTimeValue; readonly stageName: DeployTimeValue };

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);

    this.authorizerFunction = createRouteFunction(
      this,
      {
        name: AUTHORIZER.name,
        entry: AUTHORIZER.entry,
        needs: AUTHORIZER.needs,
        description: 'Verifies the bearer JWT; returns a policy for the whole API (cached per token)',
        environment: jwtEnvironment(props.jwt),
        ...FUNCTION_SIZES.authorizer,
      },
      props.resources,
    );

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.resources.logRetention,
      removalPolicy: props.resources.logRemovalPolicy,
    });
    this.api = new apigateway.RestApi(this, 'RestApi', {
      restApiName: `shop-edge-${props.stageName}`,
      description: 'shop-edge REST API (behind CloudFront)',
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      cloudWatchRole: true,
      deployOptions: {
        stageName: props.stageName,
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        tracingEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: false,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: accessLogFormat(),
      },
    });
    // Our own output with a description instead of the construct's bare one.
    this.api.node.tryRemoveChild('Endpoint');
    new CfnOutput(this, 'RestApiUrl', {
      description: 'REST API stage URL (execute-api); clients use the distribution (Cdn stack, PageUrl / DistributionDomainName)',
      value: this.api.url,
    });
    this.origin = {
      restApiId: new SharedValue(this, 'SharedRestApiId', {
        key: 'rest-api-id',
        value: this.api.restApiId,
        description: 'id of the REST API',
        legacyExport: props.legacyExports,
      }),
      stageName: new SharedValue(this, 'SharedStageName', {
        key: 'rest-api-stage',
        value: this.api.deploymentStage.stageName,
        description: 'stage of the REST API',
        legacyExport: props.legacyExports,
      }),
    };
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole !== undefined) {
      acknowledge(cloudWatchRole, {
        id: managedPolicyFinding(
          cloudWatchRole,
          ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs').managedPolicyArn,
        ),
        reason:
          'The account-level role API Gateway uses to write execution and access logs; AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy for exactly that and nothing else.',
      });
    }
    acknowledge(this.api, {
      id: 'AwsSolutions-COG4',
      reason:
        "Tokens come from the shop's external identity provider (JWKS, RS256/ES256) and are verified by a Lambda REQUEST authorizer; there is no Cognito user pool.",
    });
    this.publicClientLimit = new PublicClientLimit(this, 'PublicClientLimit', {
      stage: this.api.deploymentStage,
      paths: REST_ROUTES.filter((r) => r.permission === undefined).map((r) => r.path),
      ...PUBLIC_CLIENT_LIMIT,
      cdnOnly: props.cdnOnly,
      previousSecretVersion: props.previousOriginSecretVersion,
    });

    const authorizer = new apigateway.RequestAuthorizer(this, 'TokenAuthorizer', {
      handler: this.authorizerFunction,
      identitySources: [AUTHORIZER.restIdentitySource],
      // The authorizer returns a policy for the whole API, so one cached policy serves every route.
      resultsCacheTtl: Duration.seconds(AUTHORIZER.resultCacheTtlSeconds),
    });
    const validator = new apigateway.RequestValidator(this, 'Validator', {
      restApi: this.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jsonObject = new apigateway.Model(this, 'JsonObject', {
      restApi: this.api,
      contentType: 'application/json',
      description: 'Any JSON object (the function validates the fields)',
      schema: { schema: apigateway.JsonSchemaVersion.DRAFT4, type: apigateway.JsonSchemaType.OBJECT },
    });

    this.cursorKey = new secretsmanager.Secret(this, 'CursorKey', {
      description: 'shop-edge: the key page cursors are signed with (HMAC-SHA256), one per deployment',
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    });
    acknowledge(this.cursorKey, {
      id: 'AwsSolutions-SMG4',
      reason:
        'A new cursor key makes every cursor issued before it a 400 (clients start again from the first page), and the list functions read it once per cold start; rotating it is a planned runbook step, not a scheduled Lambda.',
    });

    const corsOrigins = props.corsOrigins ?? [];
    const functions = new Map<string, ShopFunction>();
    for (const route of REST_ROUTES) {
      const fn = createRouteFunction(
        this,
        {
          name: route.name,
          entry: route.entry,
          needs: route.needs,
          description: `${route.method} ${route.path}: ${route.summary}`,
          ...FUNCTION_SIZES.request,
        },
        props.resources,
      );
      fn.addEnvironment(CORS_ORIGINS_ENV, JSON.stringify(corsOrigins));
      if (route.needs.cursorKey === true) {
        fn.addEnvironment('CURSOR_KEY_SECRET_ARN', this.cursorKey.secretArn);
        this.cursorKey.grantRead(fn);
      }
      functions.set(route.name, fn);
      const method = this.api.root
        .resourceForPath(route.path)
        .addMethod(route.method, new apigateway.LambdaIntegration(fn, { allowTestInvoke: false }), {
          operationName: route.name,
          requestValidator: validator,
          requestParameters: pathParameters(route),
          requestModels: hasBody(route) ? { 'application/json': jsonObject } : undefined,
          ...(route.permission !== undefined
            ? { authorizer, authorizationType: apigateway.AuthorizationType.CUSTOM }
            : { authorizationType: apigateway.AuthorizationType.NONE }),
        });
      if (route.permission === undefined) {
        acknowledge(method, {
          id: 'AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by contract (no Authorization header): ${route.summary}.`,
        });
      }
    }
    this.routeFunctions = functions;

    // CORS preflights, answered by API Gateway itself (no function, no authorizer: a browser sends
    // no Authorization on a preflight), one per path with the path's methods of the route table.
    for (const [path, methods] of corsPaths(REST_ROUTES)) {
      const headers = preflightHeaders(methods);
      const responseHeaders = Object.fromEntries(
        Object.entries(headers).map(([name, value]) => [`method.response.header.${name}`, `'${value}'`]),
      );
      const preflight = this.api.root.resourceForPath(path).addMethod(
        'OPTIONS',
        new apigateway.MockIntegration({
          requestTemplates: { 'application/json': '{"statusCode": 204}' },
          integrationResponses: [
            {
              statusCode: '204',
              responseParameters: responseHeaders,
              responseTemplates: { 'application/json': preflightResponseTemplate(corsOrigins) },
            },
          ],
        }),
        {
          operationName: `Preflight ${path}`,
          authorizationType: apigateway.AuthorizationType.NONE,
          methodResponses: [
            {
              statusCode: '204',
              responseParameters: Object.fromEntries(
                [...Object.keys(responseHeaders), 'method.response.header.Access-Control-Allow-Origin'].map((name) => [name, true]),
              ),
            },
          ],
        },
      );
      acknowledge(preflight, {
        id: 'AwsSolutions-APIG4',
        reason: `OPTIONS ${path} is a CORS preflight: browsers send it without the Authorization header; it answers from a mock integration and reaches no function.`,
      });
    }

    addGatewayErrors(this.api);
  }
}

function pathParameters(route: RestRoute): Record<string, boolean> | undefined {
  const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  return names.length > 0 ? Object.fromEntries(names.map((n) => [`method.request.path.${n}`, true])) : undefined;
}

function hasBody(route: RestRoute): boolean {
  return route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
}

function accessLogFormat(): apigateway.AccessLogFormat {
  const f = apigateway.AccessLogField;
  return apigateway.AccessLogFormat.custom(
    JSON.stringify({
      requestId: f.contextRequestId(),
      ip: f.contextIdentitySourceIp(),
      requestTime: f.contextRequestTimeEpoch(),
      method: f.contextHttpMethod(),
      resourcePath: f.contextResourcePath(),
      path: f.contextPath(),
      status: f.contextStatus(),
      protocol: f.contextProtocol(),
      responseLength: f.contextResponseLength(),
      responseLatency: f.contextResponseLatency(),
      integrationLatency: f.contextIntegrationLatency(),
      authorizerLatency: f.contextAuthorizerLatency(),
      authorizerError: f.contextAuthorizerError(),
      errorType: f.contextErrorResponseType(),
      tenantId: f.contextAuthorizer('tenantId'),
      xrayTraceId: f.contextXrayTraceId(),
      userAgent: f.contextIdentityUserAgent(),
    }),
  );
}
