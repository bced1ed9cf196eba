/**
 * An AWS WAFv2 web ACL (its properties, intrinsics resolved), for the local REST front: its rate-based rules
 * become per-client limits with the requests they count (the scope-down statement, compiled to a
 * predicate), who the client is (the source address or a forwarded header) and the custom answer
 * of a block; a plain Block rule (a statement, no rate) blocks every request it matches. Only what a rule of this shape needs is understood; any other statement, action,
 * key or transformation stops the mode naming the property, so no rule is silently dropped.
 */
import type { ClientLimitDefinition, InspectedRequest } from '../rest-api';
import { TemplateError, type Where } from './intrinsics';

type Predicate = (request: InspectedRequest) => boolean;
type Transformation = (value: string) => string;

const WINDOWS = new Set([60, 120, 300, 600]);

const TRANSFORMATIONS: Readonly<Record<string, Transformation>> = {
  NONE: (v) => v,
  LOWERCASE: (v) => v.toLowerCase(),
  URL_DECODE: (v) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  },
  // Collapses "//", removes "./" and resolves "../" (WAF's NORMALIZE_PATH).
  NORMALIZE_PATH: (v) => {
    const out: string[] = [];
    for (const part of v.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') out.pop();
      else out.push(part);
    }
    return `/${out.join('/')}${v.length > 1 && v.endsWith('/') ? '/' : ''}`;
  },
};

/**
 * The rules of the web ACL `acl` (its resolved Properties), in priority order. The first rule
 * that blocks a request answers it; as in WAF, every rate-based rule a request is in scope of
 * counts it.
 */
export function readWebAclLimits(at: Where, acl: Readonly<Record<string, unknown>>): ClientLimitDefinition[] {
  const known = ['Name', 'Scope', 'Description', 'DefaultAction', 'VisibilityConfig', 'CustomResponseBodies', 'Rules', 'Tags'];
  for (const name of Object.keys(acl)) {
    if (!known.includes(name)) throw new TemplateError({ ...at, path: name }, `property ${name} of a web ACL is not supported`);
  }
  const defaultAction = (acl.DefaultAction ?? {}) as Record<string, unknown>;
  if (!('Allow' in defaultAction)) throw new TemplateError({ ...at, path: 'DefaultAction' }, 'only a default action of Allow is supported');
  const bodies = (acl.CustomResponseBodies ?? {}) as Record<string, { ContentType?: string; Content?: string }>;
  const rules = (acl.Rules ?? []) as Record<string, unknown>[];
  return [...rules]
    .sort((a, b) => Number(a.Priority) - Number(b.Priority))
    .map((rule, i) => readRule({ ...at, path: `Rules[${i}]` }, rule, bodies));
}

function readRule(at: Where, rule: Record<string, unknown>, bodies: Record<string, { ContentType?: string; Content?: string }>) {
  const name = String(rule.Name);
  const statement = (rule.Statement ?? {}) as Record<string, unknown>;
  const rate = statement.RateBasedStatement as Record<string, unknown> | undefined;
  if (rate === undefined) {
    // A plain rule: every request its statement matches is blocked outright (no client, no window).
    const matches = compile({ ...at, path: `${at.path}.Statement` }, statement);
    const block = readBlock({ ...at, path: `${at.path}.Action` }, rule.Action, bodies);
    return { name, requests: 0, windowSeconds: 0, counts: matches, clientOf: () => null, block };
  }
  if (Object.keys(statement).length !== 1) {
    throw new TemplateError({ ...at, path: `${at.path}.Statement` }, 'a statement has exactly one kind');
  }
  const rateAt = { ...at, path: `${at.path}.Statement.RateBasedStatement` };
  const windowSeconds = Number(rate.EvaluationWindowSec ?? 300);
  if (!WINDOWS.has(windowSeconds)) throw new TemplateError({ ...rateAt, path: `${rateAt.path}.EvaluationWindowSec` }, 'not a WAF window');
  const requests = Number(rate.Limit);
  if (!Number.isInteger(requests) || requests < 10) throw new TemplateError({ ...rateAt, path: `${rateAt.path}.Limit` }, 'not a WAF limit');

  let clientOf: ClientLimitDefinition['clientOf'];
  const keyType = rate.AggregateKeyType;
  if (keyType === 'IP') {
    clientOf = (request) => request.sourceIp;
  } else if (keyType === 'FORWARDED_IP') {
    const config = (rate.ForwardedIPConfig ?? {}) as Record<string, unknown>;
    const header = String(config.HeaderName).toLowerCase();
    const fallbackMatches = config.FallbackBehavior === 'MATCH';
    clientOf = (request) => {
      const value = headerOf(request, header)?.split(',')[0]?.trim() ?? '';
      if (/^(\d{1,3}\.){3}\d{1,3}$|^[0-9A-Fa-f:]+$/.test(value)) return value;
      // No valid address: the rule matches (blocks) or ignores the request, as its fallback says.
      return fallbackMatches ? null : undefined;
    };
  } else {
    throw new TemplateError({ ...rateAt, path: `${rateAt.path}.AggregateKeyType` }, `aggregate key ${String(keyType)} is not supported`);
  }

  const counts: Predicate =
    rate.ScopeDownStatement === undefined
      ? () => true
      : compile({ ...rateAt, path: `${rateAt.path}.ScopeDownStatement` }, rate.ScopeDownStatement);
  return { name, requests, windowSeconds, counts, clientOf, block: readBlock({ ...at, path: `${at.path}.Action` }, rule.Action, bodies) };
}

function readBlock(
  at: Where,
  action: unknown,
  bodies: Record<string, { ContentType?: string; Content?: string }>,
): NonNullable<ClientLimitDefinition['block']> {
  const block = (action as Record<string, unknown> | undefined)?.Block as Record<string, unknown> | undefined;
  if (block === undefined) throw new TemplateError(at, 'only Block actions are supported');
  const custom = block.CustomResponse as Record<string, unknown> | undefined;
  // WAF's own block answer, without a custom response.
  if (custom === undefined) return { statusCode: 403, headers: { 'Content-Type': 'text/html' }, body: '' };
  const key = custom.CustomResponseBodyKey;
  const body = typeof key === 'string' ? bodies[key] : undefined;
  if (typeof key === 'string' && body === undefined)
    throw new TemplateError({ ...at, path: `${at.path}.Block` }, `no response body ${key}`);
  const contentTypes: Record<string, string> = {
    APPLICATION_JSON: 'application/json',
    TEXT_PLAIN: 'text/plain',
    TEXT_HTML: 'text/html',
  };
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = contentTypes[body.ContentType ?? ''] ?? 'text/plain';
  for (const header of (custom.ResponseHeaders ?? []) as { Name: string; Value: string }[]) headers[header.Name] = header.Value;
  return { statusCode: Number(custom.ResponseCode), headers, body: body?.Content ?? '' };
}

/** A WAF statement as a predicate over the request. */
function compile(at: Where, value: unknown): Predicate {
  const statement = (value ?? {}) as Record<string, unknown>;
  const [kind, ...others] = Object.keys(statement);
  if (kind === undefined || others.length > 0) throw new TemplateError(at, 'a statement has exactly one kind');
  const inner = statement[kind] as Record<string, unknown>;
  const here = { ...at, path: `${at.path}.${kind}` };
  switch (kind) {
    case 'AndStatement': {
      const parts = (inner.Statements as unknown[]).map((s, i) => compile({ ...here, path: `${here.path}.Statements[${i}]` }, s));
      return (request) => parts.every((p) => p(request));
    }
    case 'OrStatement': {
      const parts = (inner.Statements as unknown[]).map((s, i) => compile({ ...here, path: `${here.path}.Statements[${i}]` }, s));
      return (request) => parts.some((p) => p(request));
    }
    case 'NotStatement': {
      const part = compile({ ...here, path: `${here.path}.Statement` }, inner.Statement);
      return (request) => !part(request);
    }
    case 'RegexMatchStatement': {
      const field = fieldOf(here, inner);
      if (typeof inner.RegexString !== 'string') throw new TemplateError({ ...here, path: `${here.path}.RegexString` }, 'not a string');
      const pattern = new RegExp(inner.RegexString);
      return (request) => pattern.test(field(request));
    }
    case 'ByteMatchStatement': {
      const field = fieldOf(here, inner);
      if (typeof inner.SearchString !== 'string') throw new TemplateError({ ...here, path: `${here.path}.SearchString` }, 'not a string');
      const search = inner.SearchString;
      const test = byteMatch({ ...here, path: `${here.path}.PositionalConstraint` }, inner.PositionalConstraint, search);
      return (request) => test(field(request));
    }
    default:
      throw new TemplateError(here, `${kind} is not supported`);
  }
}

function byteMatch(at: Where, constraint: unknown, search: string): (value: string) => boolean {
  switch (constraint) {
    case 'EXACTLY':
      return (v) => v === search;
    case 'STARTS_WITH':
      return (v) => v.startsWith(search);
    case 'ENDS_WITH':
      return (v) => v.endsWith(search);
    case 'CONTAINS':
      return (v) => v.includes(search);
    default:
      throw new TemplateError(at, `positional constraint ${String(constraint)} is not supported`);
  }
}

/** The inspected part of the request, after the statement's text transformations (in priority order). */
function fieldOf(at: Where, statement: Record<string, unknown>): (request: InspectedRequest) => string {
  const field = (statement.FieldToMatch ?? {}) as Record<string, unknown>;
  const transformations = ((statement.TextTransformations ?? []) as { Priority: number; Type: string }[])
    .slice()
    .sort((a, b) => a.Priority - b.Priority)
    .map((t) => {
      const transform = TRANSFORMATIONS[t.Type];
      if (transform === undefined) throw new TemplateError({ ...at, path: `${at.path}.TextTransformations` }, `${t.Type} is not supported`);
      return transform;
    });
  const transformed = (value: string) => transformations.reduce((v, t) => t(v), value);
  if ('UriPath' in field) return (request) => transformed(request.path);
  const single = field.SingleHeader as { Name?: string } | undefined;
  if (single?.Name !== undefined) {
    const name = single.Name.toLowerCase();
    return (request) => transformed(headerOf(request, name) ?? '');
  }
  throw new TemplateError({ ...at, path: `${at.path}.FieldToMatch` }, `${Object.keys(field).join(', ')} is not supported`);
}

function headerOf(request: InspectedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}
