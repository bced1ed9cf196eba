/**
 * CORS in the synthesized templates: a preflight (OPTIONS, mock integration, no authorizer) on
 * every path of the route table with the path's methods; the gateway responses carrying the CORS
 * headers; the REST functions told the allowed origins; the API's CloudFront response headers
 * policy setting them per viewer, with Origin kept out of every cache key; cdk-nag still clean.
 * And the corsOrigins setting validated at synthesis.
 */
import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, corsPaths, originsOfPreflightTemplate } from '../../functions/shared/cors';
import { REST_ROUTES } from '../../functions/routes';
import { GATEWAY_ERRORS } from '../../functions/shared/gateway-errors';
import { loadConfig } from '../../lib/config';
import {
  contextWith,
  profilePatch,
  resourceNamed,
  resourcesOf,
  synthesize,
  tempOutdir,
  unacknowledgedFindings,
  type SynthesizedShopEdge,
} from './support';

jest.setTimeout(120_000);

const ORIGINS = ['https://shop.example.com', 'https://admin.example.com', 'http://localhost:*'];

let app: SynthesizedShopEdge;

beforeAll(() => {
  app = synthesize(profilePatch('dev', { corsOrigins: ORIGINS }));
});

type Props = Record<string, any>;

/** The resource path of every method of the REST API: method logical id -> { path, verb, props }. */
function methods(): { path: string; verb: string; props: Props }[] {
  const t = app.templates.api;
  const resources = resourcesOf(t, 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string }).Ref;
    const resource = id === undefined ? undefined : resources[id];
    if (resource === undefined) return '';
    return `${pathOf(resource.Properties!.ParentId)}/${String(resource.Properties!.PathPart)}`;
  };
  return Object.values(resourcesOf(t, 'AWS::ApiGateway::Method')).map((m) => ({
    path: pathOf(m.Properties!.ResourceId),
    verb: String(m.Properties!.HttpMethod),
    props: m.Properties as Props,
  }));
}

describe('CORS in the templates', () => {
  it('answers a preflight on every path of the route table, with its methods, from a mock, without an authorizer', () => {
    const preflights = methods().filter((m) => m.verb === 'OPTIONS');
    const paths = corsPaths(REST_ROUTES);
    expect(preflights.map((m) => m.path).sort()).toEqual([...paths.keys()].sort());
    for (const { path, props } of preflights) {
      expect(props.AuthorizationType).toBe('NONE');
      expect(props.Integration.Type).toBe('MOCK');
      const response = props.Integration.IntegrationResponses[0];
      expect(response.StatusCode).toBe('204');
      expect(response.ResponseParameters).toMatchObject({
        'method.response.header.Access-Control-Allow-Methods': `'${[...paths.get(path)!, 'OPTIONS'].join(', ')}'`,
        'method.response.header.Access-Control-Allow-Headers': `'${CORS_ALLOW_HEADERS.join(', ')}'`,
        'method.response.header.Vary': "'Origin'",
      });
      // The origin is echoed only when listed: the template carries the list, not a static '*'.
      expect(response.ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBeUndefined();
      expect(originsOfPreflightTemplate(response.ResponseTemplates['application/json'])).toEqual(ORIGINS);
      expect(props.MethodResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Origin']).toBe(true);
    }
  });

  it('keeps the authorizer on every route method (a preflight is the only method without one, besides the public routes)', () => {
    for (const route of REST_ROUTES) {
      const method = methods().find((m) => m.path === route.path && m.verb === route.method);
      expect(method?.props.AuthorizationType).toBe(route.permission === undefined ? 'NONE' : 'CUSTOM');
    }
  });

  it('gives every gateway response (401, 403, 429, 5xx...) the CORS headers', () => {
    const responses = Object.values(resourcesOf(app.templates.api, 'AWS::ApiGateway::GatewayResponse'));
    expect(responses).toHaveLength(GATEWAY_ERRORS.length);
    for (const response of responses) {
      expect(response.Properties!.ResponseParameters).toMatchObject({
        'gatewayresponse.header.Access-Control-Allow-Origin': 'method.request.header.Origin',
        'gatewayresponse.header.Access-Control-Expose-Headers': `'${CORS_EXPOSE_HEADERS.join(', ')}'`,
        'gatewayresponse.header.Vary': "'Origin'",
      });
    }
  });

  it('tells every REST function the allowed origins', () => {
    for (const route of REST_ROUTES) {
      const variables = (resourceNamed(app.templates.api, 'AWS::Lambda::Function', route.name).Properties.Environment as Props).Variables;
      expect(JSON.parse(variables.CORS_ORIGINS)).toEqual(ORIGINS);
    }
  });

  it("sets the CORS headers per viewer in the API's response headers policy, with Origin in no cache key", () => {
    const t = app.templates.cdn;
    t.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        CorsConfig: {
          AccessControlAllowOrigins: { Items: ['https://shop.example.com', 'https://admin.example.com'] },
          AccessControlAllowMethods: { Items: [...new Set([...REST_ROUTES.map((r) => r.method), 'OPTIONS'])] },
          AccessControlAllowHeaders: { Items: [...CORS_ALLOW_HEADERS] },
          AccessControlExposeHeaders: { Items: [...CORS_EXPOSE_HEADERS] },
          AccessControlAllowCredentials: false,
          AccessControlMaxAgeSec: 600,
          OriginOverride: true,
        },
      }),
    });
    for (const policy of Object.values(resourcesOf(t, 'AWS::CloudFront::CachePolicy'))) {
      const headers = (policy.Properties as Props).CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig;
      expect((headers.Headers ?? []).map((h: string) => h.toLowerCase())).not.toContain('origin');
    }
  });

  it('stays clean under cdk-nag', () => {
    expect(unacknowledgedFindings(app.app, app.assemblyDir)).toEqual([]);
  });
});

describe('the corsOrigins setting', () => {
  const configOf = (overrides: Record<string, unknown>) =>
    loadConfig(new App({ context: contextWith(overrides), outdir: tempOutdir() }).node);

  it('takes a list per environment, and -c corsOrigins=a,b over it', () => {
    expect(configOf(profilePatch('dev', { corsOrigins: ['https://a.example.com'] })).corsOrigins).toEqual(['https://a.example.com']);
    expect(configOf({ corsOrigins: 'https://a.example.com, https://b.example.com:8443' }).corsOrigins).toEqual([
      'https://a.example.com',
      'https://b.example.com:8443',
    ]);
  });

  it.each([
    ['*', /wildcard/],
    ['https://shop.example.com/', /not an origin/],
    ['https://shop.example.com/app', /not an origin/],
    ['shop.example.com', /not an origin/],
    ['https://Shop.example.com', /not an origin/],
    ['http://shop.example.com', /use https/],
    ['https://shop.example.com:443', /sends this origin as https:\/\/shop.example.com/],
    ['https://*.example.com', /not an origin/],
  ])('refuses %s at synthesis with a message naming it', (entry, message) => {
    const attempt = () => configOf(profilePatch('dev', { corsOrigins: [entry] }));
    expect(attempt).toThrow(/Invalid configuration for environment "dev"/);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(JSON.stringify(entry));
  });
});
