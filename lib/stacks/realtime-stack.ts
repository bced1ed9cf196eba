/**
 * Real time: the WebSocket API generated from WEBSOCKET_ROUTES ($connect behind a Lambda
 * authorizer on the `token` query parameter), its stage with throttling, access and execution
 * logs, and the managed policy that lets a function post to its connections, attached only to the
 * functions whose `needs` ask for it.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { AUTHORIZER, WEBSOCKET_ROUTES } from '../../functions/routes';
import { DEFAULT_WS_MAX_CONNECTIONS_PER_TENANT, type JwtSettings, type ThrottleSettings } from '../config';
import { FUNCTION_SIZES, createRouteFunction, type FunctionResources } from '../constructs/function-needs';
import type { ShopFunction } from '../constructs/shop-function';
import { acknowledge, wildcardResourceFinding } from '../nag';
import { jwtEnvironment } from './api-stack';

export interface RealtimeStackProps extends StackProps {
  readonly resources: FunctionResources;
  readonly stageName: string;
  readonly throttle: ThrottleSettings;
  readonly jwt: JwtSettings;
  /** Open connections per tenant: the $connect function's WS_MAX_CONNECTIONS_PER_TENANT. @default 10,000 */
  readonly maxConnectionsPerTenant?: number;
}

export class RealtimeStack extends Stack {
  public readonly webSocketApi: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
  /** execute-api:ManageConnections on this stage's connections; attached per `needs`. */
  public readonly manageConnectionsPolicy: iam.ManagedPolicy;
  public readonly authorizerFunction: ShopFunction;
  public readonly routeFunctions: ReadonlyMap<string, ShopFunction>;

  constructor(scope: Construct, id: string, props: RealtimeStackProps) {
    super(scope, id, props);

    this.webSocketApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', {
      apiName: `shop-edge-${props.stageName}-ws`,
      description: 'shop-edge live updates',
      routeSelectionExpression: '$request.body.action',
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.resources.logRetention,
      removalPolicy: props.resources.logRemovalPolicy,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            connectionId: '$context.connectionId',
            routeKey: '$context.routeKey',
            eventType: AccessLogField.contextEventType(),
            status: AccessLogField.contextStatus(),
            ip: AccessLogField.contextIdentitySourceIp(),
            requestTime: AccessLogField.contextRequestTimeEpoch(),
            integrationLatency: AccessLogField.contextIntegrationLatency(),
            authorizerError: AccessLogField.contextAuthorizerError(),
            error: AccessLogField.contextErrorMessage(),
            tenantId: AccessLogField.contextAuthorizer('tenantId'),
          }),
        ),
      },
    });
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'WebSocket stage URL: connect with ?token=<JWT> (docs/contract.md)',
      value: this.stage.url,
    });
    // Execution logs for errors (needs the account's API Gateway CloudWatch role, set up by the API stack).
    (this.stage.node.defaultChild as apigwv2.CfnStage).addPropertyOverride('DefaultRouteSettings.LoggingLevel', 'ERROR');

    const connectionsArn = `${Stack.of(this).formatArn({ service: 'execute-api', resource: this.webSocketApi.apiId })}/${props.stageName}/*/@connections/*`;
    this.manageConnectionsPolicy = new iam.ManagedPolicy(this, 'ManageConnections', {
      description: 'Post to, read and close the connections of the shop-edge WebSocket stage',
      statements: [new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [connectionsArn] })],
    });
    acknowledge(this.manageConnectionsPolicy, {
      id: wildcardResourceFinding(this, connectionsArn),
      reason:
        'Connection ids are created at run time, so the resource ends in @connections/*; it is limited to this API and this stage, and the policy is attached only to functions whose needs include manageConnections.',
    });

    const resources: FunctionResources = {
      ...props.resources,
      connections: { endpoint: this.stage.callbackUrl, policy: this.manageConnectionsPolicy },
    };
    this.authorizerFunction = createRouteFunction(
      this,
      {
        name: AUTHORIZER.name,
        entry: AUTHORIZER.entry,
        needs: AUTHORIZER.needs,
        description: 'Verifies the JWT of the token query parameter on $connect',
        environment: jwtEnvironment(props.jwt),
        ...FUNCTION_SIZES.authorizer,
      },
      resources,
    );
    const authorizer = new WebSocketLambdaAuthorizer('Authorizer', this.authorizerFunction, {
      identitySource: [AUTHORIZER.webSocketIdentitySource],
    });

    const maxConnectionsPerTenant = props.maxConnectionsPerTenant ?? DEFAULT_WS_MAX_CONNECTIONS_PER_TENANT;
    const functions = new Map<string, ShopFunction>();
    for (const route of WEBSOCKET_ROUTES) {
      const fn = createRouteFunction(
        this,
        {
          name: route.name,
          entry: route.entry,
          needs: route.needs,
          description: `WebSocket ${route.routeKey}`,
          // The connect function alone counts a tenant's connections.
          ...(route.routeKey === '$connect' ? { environment: { WS_MAX_CONNECTIONS_PER_TENANT: String(maxConnectionsPerTenant) } } : {}),
          ...FUNCTION_SIZES.webSocket,
        },
        resources,
      );
      functions.set(route.name, fn);
      // One-way routes: the functions reply through the management API (functions/realtime/ws-route.ts).
      const wsRoute = this.webSocketApi.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${route.name}Integration`, fn),
        authorizer: route.routeKey === '$connect' ? authorizer : undefined,
      });
      if (route.routeKey !== '$connect') {
        acknowledge(wsRoute, {
          id: 'AwsSolutions-APIG4',
          reason: `WebSocket authorizers run on $connect only; ${route.routeKey} runs on a connection that $connect already authorised, with its identity in the connection item.`,
        });
      }
    }
    this.routeFunctions = functions;
  }
}
