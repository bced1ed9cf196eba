/**
 * The local fronts' API definitions (rest-api.ts, ws-api.ts) from a deployment read off the
 * template: methods, authorizers, validators, gateway responses, throttles, routes and Lambda
 * permissions exactly as API Gateway would have them.
 */
import type { LocalFunction } from '../functions';
import { createGatewayResponder } from '../gateway-responses';
import type { RestApiDefinition, RestAuthorizerDefinition, RestMethodDefinition } from '../rest-api';
import type { WebSocketApiDefinition, WebSocketRouteDefinition } from '../ws-api';
import { TemplateError } from './intrinsics';
import type { DeployedFunction, DeployedRestApi, DeployedWebSocketApi } from './model';
import { readWebAclLimits } from './waf';

/** The local function of a deployed function ARN. */
export type FunctionResolver = (arn: string) => { readonly fn: LocalFunction; readonly deployed: DeployedFunction };

export function restApiFromDeployment(api: DeployedRestApi, functionFor: FunctionResolver): RestApiDefinition {
  const mayInvoke = invokePermission(api.invokePermissions, functionFor);
  const authorizers = new Map<string, RestAuthorizerDefinition>();
  for (const [id, authorizer] of api.authorizers) {
    authorizers.set(id, {
      id,
      name: authorizer.name,
      type: authorizer.type,
      identitySources: authorizer.identitySources,
      resultTtlSeconds: authorizer.resultTtlSeconds,
      fn: guarded(functionFor(authorizer.functionArn).fn, `${api.id}/authorizers/${id}`, mayInvoke),
    });
  }
  const methods: RestMethodDefinition[] = api.methods.map((m) => {
    const authorizer = m.authorizerId === undefined ? undefined : authorizers.get(m.authorizerId);
    if (m.authorizerId !== undefined && authorizer === undefined) {
      throw new TemplateError(
        { stack: api.stack, logicalId: api.logicalId, path: `${m.httpMethod} ${m.resourcePath}` },
        `no authorizer ${m.authorizerId}`,
      );
    }
    const required = m.validateParameters
      ? Object.entries(m.requestParameters).flatMap(([key, isRequired]) => {
          const match = /^method\.request\.(querystring|header)\.(.+)$/.exec(key);
          return isRequired && match?.[1] !== undefined && match[2] !== undefined
            ? [{ in: match[1] as 'querystring' | 'header', name: match[2] }]
            : [];
        })
      : [];
    const models = m.validateBody ? m.requestModels : {};
    const validators = new Map(
      Object.entries(models).map(([contentType, schema]) => [contentType, compileSchema(schema, `${m.httpMethod} ${m.resourcePath}`)]),
    );
    return {
      name:
        m.integration.type === 'AWS_PROXY'
          ? functionFor(m.integration.functionArn).deployed.logicalId
          : `${m.httpMethod} ${m.resourcePath}`,
      httpMethod: m.httpMethod,
      resourcePath: m.resourcePath,
      ...(authorizer !== undefined ? { authorizer } : {}),
      integration:
        m.integration.type === 'AWS_PROXY'
          ? { kind: 'lambda', fn: functionFor(m.integration.functionArn).fn }
          : {
              kind: 'mock',
              statusCode: m.integration.statusCode,
              headers: m.integration.headers,
              ...(m.integration.allowedOrigins !== undefined ? { allowedOrigins: m.integration.allowedOrigins } : {}),
            },
      ...(required.length > 0 || validators.size > 0
        ? {
            validation: {
              ...(required.length > 0 ? { requiredParameters: required } : {}),
              ...(validators.size > 0
                ? {
                    body: (contentType: string, body: string) => {
                      const validate = validators.get(contentType) ?? validators.get('$default');
                      return validate === undefined || validate(body);
                    },
                  }
                : {}),
            },
          }
        : {}),
    };
  });
  return {
    apiId: api.id,
    stage: api.stageName,
    methods,
    gatewayResponses: createGatewayResponder(api.gatewayResponses),
    ...(api.throttle !== undefined ? { throttle: api.throttle } : {}),
    ...(api.webAcl !== undefined
      ? { clientLimits: readWebAclLimits({ stack: api.webAcl.stack, logicalId: api.webAcl.logicalId, path: '' }, api.webAcl.properties) }
      : {}),
    mayInvoke,
  };
}

export function webSocketApiFromDeployment(api: DeployedWebSocketApi, functionFor: FunctionResolver): WebSocketApiDefinition {
  const field = /^\$request\.body\.([A-Za-z0-9_]+)$/.exec(api.routeSelectionExpression)?.[1];
  if (field === undefined) {
    throw new TemplateError(
      { stack: api.stack, logicalId: api.logicalId, path: 'RouteSelectionExpression' },
      `${api.routeSelectionExpression} is not supported ($request.body.<field> only)`,
    );
  }
  const mayInvoke = invokePermission(api.invokePermissions, functionFor);
  const routes = new Map<string, WebSocketRouteDefinition>();
  for (const [routeKey, route] of api.routes) {
    const authorizer = route.authorizerId === undefined ? undefined : api.authorizers.get(route.authorizerId);
    if (route.authorizerId !== undefined && authorizer === undefined) {
      throw new TemplateError({ stack: api.stack, logicalId: api.logicalId, path: routeKey }, `no authorizer ${route.authorizerId}`);
    }
    const { fn, deployed } = functionFor(route.functionArn);
    routes.set(routeKey, {
      routeKey,
      name: deployed.logicalId,
      fn,
      ...(authorizer !== undefined
        ? {
            authorizer: {
              id: authorizer.id,
              name: authorizer.name,
              identitySources: authorizer.identitySources,
              fn: guarded(functionFor(authorizer.functionArn).fn, `${api.id}/authorizers/${authorizer.id}`, mayInvoke),
            },
          }
        : {}),
      twoWay: route.routeResponseSelectionExpression !== undefined,
    });
  }
  return {
    apiId: api.id,
    stage: api.stageName,
    routeSelectionField: field,
    routes,
    ...(api.throttle !== undefined ? { throttle: api.throttle } : {}),
    mayInvoke,
  };
}

/**
 * Lambda's resource policy as API Gateway meets it: the function may be invoked for a source ARN
 * one of its permissions' SourceArn patterns matches (the ARN's api/stage/verb/path part).
 */
function invokePermission(permissions: ReadonlyMap<string, readonly string[]>, functionFor: FunctionResolver) {
  const byFunction = new Map<LocalFunction, readonly string[]>();
  return (fn: LocalFunction, sourceArn: string): boolean => {
    let patterns = byFunction.get(fn);
    if (patterns === undefined) {
      patterns = [...permissions.entries()].flatMap(([target, arns]) => {
        try {
          return functionFor(target).fn === fn ? arns : [];
        } catch {
          return [];
        }
      });
      byFunction.set(fn, patterns);
    }
    const resource = sourceArn.replace(/^arn:aws:execute-api:[^:]*:[^:]*:/, '');
    return patterns.some((pattern) => pattern === '*' || wildcard(pattern.replace(/^arn:aws:execute-api:[^:]*:[^:]*:/, ''), resource));
  };
}

function guarded(fn: LocalFunction, sourceArnSuffix: string, mayInvoke: (fn: LocalFunction, sourceArn: string) => boolean): LocalFunction {
  return {
    name: fn.name,
    timeoutMs: fn.timeoutMs,
    invoke: (event) => {
      if (!mayInvoke(fn, `arn:aws:execute-api:::${sourceArnSuffix}`)) {
        return Promise.reject(new Error(`Execution failed due to configuration error: Invalid permissions on Lambda function ${fn.name}`));
      }
      return fn.invoke(event);
    },
  };
}

function wildcard(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

type Schema = Record<string, unknown>;

/**
 * The part of JSON Schema draft 4 API Gateway request models use here: type, required,
 * properties, additionalProperties, items. Any other keyword stops the mode (never ignored).
 */
function compileSchema(schema: unknown, where: string): (body: string) => boolean {
  const known = new Set(['$schema', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties', 'items']);
  const check = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) throw new Error(`${where}: request model ${path} is not a schema`);
    for (const key of Object.keys(node))
      if (!known.has(key)) throw new Error(`${where}: request model keyword ${key} (${path}) is not supported`);
    const s = node as Schema;
    if (s.properties !== undefined) for (const [k, v] of Object.entries(s.properties as Schema)) check(v, `${path}.properties.${k}`);
    if (typeof s.additionalProperties === 'object') check(s.additionalProperties, `${path}.additionalProperties`);
    if (s.items !== undefined) check(s.items, `${path}.items`);
  };
  check(schema, '#');
  const valid = (value: unknown, s: Schema): boolean => {
    const types = s.type === undefined ? [] : Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (types.length > 0 && !types.some((t) => typeMatches(value, t))) return false;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const object = value as Record<string, unknown>;
      for (const key of (s.required as string[] | undefined) ?? []) if (!(key in object)) return false;
      const properties = (s.properties ?? {}) as Record<string, Schema>;
      for (const [key, v] of Object.entries(object)) {
        const child = properties[key];
        if (child !== undefined) {
          if (!valid(v, child)) return false;
        } else if (s.additionalProperties === false) return false;
        else if (typeof s.additionalProperties === 'object' && !valid(v, s.additionalProperties as Schema)) return false;
      }
    }
    if (Array.isArray(value) && s.items !== undefined) return value.every((item) => valid(item, s.items as Schema));
    return true;
  };
  return (body) => {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return false;
    }
    return valid(value, schema as Schema);
  };
}

function typeMatches(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return false;
  }
}
