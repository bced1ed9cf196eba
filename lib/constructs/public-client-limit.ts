/**
 * The per-client limit of the public routes (PUBLIC_CLIENT_LIMIT in the route table): a regional
 * WAFv2 web ACL on the REST API's stage with two rate-based rules over the public routes' paths,
 * blocking with API Gateway's THROTTLED answer (429, the contract's body, no-store, Retry-After).
 *
 * Which address is "the client" depends on the way in. Through CloudFront, the address WAF sees
 * is an edge's, shared by many viewers: there a CloudFront Function writes the viewer's address
 * into VIEWER_ADDRESS_HEADER (overwriting whatever the viewer sent), and CloudFront adds
 * ORIGIN_HEADER with a generated secret value, so only requests that bear the secret are counted
 * by that header's address (rule PublicClientsViaCdn). Every other request to a public path (the
 * execute-api endpoint called directly) is counted by its own source address (PublicClientsDirect),
 * so sending the header oneself gains nothing.
 *
 * With `cdnOnly` (prod), a first rule (OnlyViaCdn) blocks every request without the secret, on
 * every path, with the WAF_FILTERED answer (403): the stage then only answers CloudFront, whose
 * own web ACL, caching and expired-token check stand in front of it. WAF runs before API Gateway,
 * so this also covers the public routes and API Gateway's own answers (404s, authorizer 401s).
 */
import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { ERROR_STATUS, GATEWAY_ERRORS, errorBody } from '../../functions/shared/gateway-errors';
import { acknowledge } from '../nag';

export interface PublicClientLimitProps {
  /** The stage the web ACL guards. */
  readonly stage: Stage;
  /** API Gateway resource paths of the public routes (no path parameters). */
  readonly paths: readonly string[];
  /** Requests of one client to any of the paths within the window. */
  readonly requests: number;
  /** One of WAF's evaluation windows: 60, 120, 300 or 600 seconds. */
  readonly windowSeconds: number;
  /** Block (403) every request that does not bear the origin secret. @default false */
  readonly cdnOnly?: boolean;
  /**
   * During a rotation of the origin secret (docs/deploy.md): the Secrets Manager version id of
   * the value CloudFront may still be sending, accepted as well as the current one.
   * @default - the current value only
   */
  readonly previousSecretVersion?: string;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

const WINDOWS = [60, 120, 300, 600];
const BODY_KEY = 'rate-limited';
const FILTERED_BODY_KEY = 'filtered';

export class PublicClientLimit extends Construct {
  /** Set by CloudFront (a viewer-request function) to the viewer's address. */
  static readonly VIEWER_ADDRESS_HEADER = 'x-shop-edge-viewer-address';
  /** Added by CloudFront to every origin request, with `originSecret` as its value. */
  static readonly ORIGIN_HEADER = 'x-shop-edge-origin';

  public readonly webAcl: wafv2.CfnWebACL;
  /** The value of ORIGIN_HEADER: proof that a request came through the distribution. */
  public readonly originSecret: secretsmanager.Secret;
  /**
   * What the distribution sends in ORIGIN_HEADER: a dynamic reference to the secret's current
   * value, never the value itself. CloudFormation resolves a dynamic reference only when its text
   * changes, so during a rotation it names the AWSCURRENT stage explicitly: the distribution then
   * takes the new value (and again when the rotation ends and the text goes back).
   */
  public readonly originHeaderValue: string;

  constructor(scope: Construct, id: string, props: PublicClientLimitProps) {
    super(scope, id);
    if (!WINDOWS.includes(props.windowSeconds))
      throw new Error(`WAF evaluates rates over ${WINDOWS.join(', ')} seconds, not ${props.windowSeconds}`);
    if (!Number.isInteger(props.requests) || props.requests < 10 || props.requests > 2_000_000_000)
      throw new Error(`a WAF rate limit is 10 to 2,000,000,000 requests, not ${props.requests}`);
    if (props.paths.length === 0 || props.paths.some((p) => !/^(\/[A-Za-z0-9_-]+)+$/.test(p)))
      throw new Error(`public paths must be literal resource paths: ${props.paths.join(', ')}`);

    this.originSecret = new secretsmanager.Secret(this, 'OriginSecret', {
      description: `shop-edge: the value CloudFront sends in ${PublicClientLimit.ORIGIN_HEADER}, so WAF trusts its ${PublicClientLimit.VIEWER_ADDRESS_HEADER}`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    acknowledge(this.originSecret, {
      id: 'AwsSolutions-SMG4',
      reason:
        'The value lives in two places, the web ACL rule and the distribution origin header, both set from the secret at deployment; rotating it is a redeployment of both stacks, not a rotation Lambda.',
    });

    const throttled = GATEWAY_ERRORS.find((e) => e.type === 'THROTTLED');
    if (throttled === undefined) throw new Error('gateway-errors.ts has no THROTTLED answer');
    const filtered = GATEWAY_ERRORS.find((e) => e.type === 'WAF_FILTERED');
    if (filtered === undefined) throw new Error('gateway-errors.ts has no WAF_FILTERED answer');
    const stage = props.stage.stageName;
    // The path as API Gateway receives it: /<stage>/api/... on the execute-api endpoint and from CloudFront.
    const publicPath: wafv2.CfnWebACL.StatementProperty = {
      regexMatchStatement: {
        regexString: `^(/${stage})?(${props.paths.join('|')})/?$`,
        fieldToMatch: { uriPath: {} },
        textTransformations: [
          { priority: 0, type: 'URL_DECODE' },
          { priority: 1, type: 'NORMALIZE_PATH' },
        ],
      },
    };
    const previous = props.previousSecretVersion;
    if (previous !== undefined && !/^[A-Za-z0-9-]{32,64}$/.test(previous))
      throw new Error(`previousSecretVersion must be a Secrets Manager version id, not ${JSON.stringify(previous)}`);
    this.originHeaderValue = (
      previous === undefined
        ? this.originSecret.secretValue
        : SecretValue.secretsManager(this.originSecret.secretArn, { versionStage: 'AWSCURRENT' })
    ).unsafeUnwrap();
    const bears = (value: SecretValue): wafv2.CfnWebACL.StatementProperty => ({
      byteMatchStatement: {
        searchString: value.unsafeUnwrap(),
        fieldToMatch: { singleHeader: { Name: PublicClientLimit.ORIGIN_HEADER } },
        positionalConstraint: 'EXACTLY',
        textTransformations: [{ priority: 0, type: 'NONE' }],
      },
    });
    const fromCdn: wafv2.CfnWebACL.StatementProperty =
      previous === undefined
        ? bears(this.originSecret.secretValue)
        : {
            orStatement: {
              statements: [
                bears(this.originSecret.secretValue),
                bears(SecretValue.secretsManager(this.originSecret.secretArn, { versionId: previous })),
              ],
            },
          };
    const block: wafv2.CfnWebACL.RuleActionProperty = {
      block: {
        customResponse: {
          responseCode: ERROR_STATUS[throttled.code],
          customResponseBodyKey: BODY_KEY,
          // A client over the limit stays refused until its rate over the window drops below it.
          responseHeaders: [
            { name: 'Retry-After', value: String(props.windowSeconds) },
            { name: 'Cache-Control', value: 'no-store' },
          ],
        },
      },
    };
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      metricName,
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
    });
    const rate = {
      limit: props.requests,
      evaluationWindowSec: props.windowSeconds,
    };

    const onlyViaCdn: wafv2.CfnWebACL.RuleProperty[] = props.cdnOnly
      ? [
          {
            name: 'OnlyViaCdn',
            priority: 0,
            action: {
              block: {
                customResponse: {
                  responseCode: ERROR_STATUS[filtered.code],
                  customResponseBodyKey: FILTERED_BODY_KEY,
                  responseHeaders: [{ name: 'Cache-Control', value: 'no-store' }],
                },
              },
            },
            visibilityConfig: visibility('OnlyViaCdn'),
            statement: { notStatement: { statement: fromCdn } },
          },
        ]
      : [];
    const first = onlyViaCdn.length;

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: props.cdnOnly
        ? `shop-edge: only requests from CloudFront, with ${PublicClientLimit.ORIGIN_HEADER}, and ${props.requests} requests per ${props.windowSeconds} s per client to the public routes`
        : `shop-edge: ${props.requests} requests per ${props.windowSeconds} s per client to the public routes`,
      defaultAction: { allow: {} },
      visibilityConfig: visibility('ShopEdgePublicClients'),
      customResponseBodies: {
        [BODY_KEY]: { contentType: 'APPLICATION_JSON', content: errorBody(throttled.code, throttled.message) },
        ...(props.cdnOnly
          ? { [FILTERED_BODY_KEY]: { contentType: 'APPLICATION_JSON', content: errorBody(filtered.code, filtered.message) } }
          : {}),
      },
      rules: [
        ...onlyViaCdn,
        {
          name: 'PublicClientsViaCdn',
          priority: first,
          action: block,
          visibilityConfig: visibility('PublicClientsViaCdn'),
          statement: {
            rateBasedStatement: {
              ...rate,
              aggregateKeyType: 'FORWARDED_IP',
              // The distribution's function always writes a valid address: a request with the secret and none is blocked.
              forwardedIpConfig: { headerName: PublicClientLimit.VIEWER_ADDRESS_HEADER, fallbackBehavior: 'MATCH' },
              scopeDownStatement: { andStatement: { statements: [publicPath, fromCdn] } },
            },
          },
        },
        {
          name: 'PublicClientsDirect',
          priority: first + 1,
          action: block,
          visibilityConfig: visibility('PublicClientsDirect'),
          statement: {
            rateBasedStatement: {
              ...rate,
              aggregateKeyType: 'IP',
              scopeDownStatement: { andStatement: { statements: [publicPath, { notStatement: { statement: fromCdn } }] } },
            },
          },
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
