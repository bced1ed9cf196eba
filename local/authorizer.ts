/**
 * A Lambda REQUEST authorizer as API Gateway runs it: call the handler, cache its result by the
 * identity source value for the TTL, evaluate the returned IAM policy against the method ARN (on
 * every request, cached or not), and turn the context into strings for the integration.
 * A thrown Error('Unauthorized') means 401; an explicit or implicit deny means 403.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import type { LoadedHandler } from './handlers';
import { invoke } from './lambda-context';
import { describeError, type Logger } from './log';

/** What API Gateway passes to the integration as requestContext.authorizer. */
export type AuthorizerContext = Record<string, string> & { principalId: string };

export type AuthorizerOutcome =
  | { readonly kind: 'allow'; readonly context: AuthorizerContext; readonly latencyMs: number }
  | { readonly kind: 'unauthorized' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'error' };

export interface LocalAuthorizerOptions {
  readonly functionName: string;
  readonly handler: () => Promise<LoadedHandler>;
  /** 0 disables the cache. @default 0 */
  readonly cacheTtlSeconds?: number;
  /** @default 10_000 */
  readonly timeoutMs?: number;
  readonly logger: Logger;
}

interface CachedPolicy {
  readonly result: APIGatewayAuthorizerResult;
  readonly expiresAt: number;
}

export class LocalAuthorizer {
  private readonly cache = new Map<string, CachedPolicy>();

  constructor(private readonly options: LocalAuthorizerOptions) {}

  /**
   * Authorizes one request. `identity` is the identity source value (the Authorization header or
   * the token query parameter); when it is empty API Gateway answers 401 without calling the
   * function, and so does this.
   */
  async authorize(event: APIGatewayRequestAuthorizerEvent, identity: string | undefined): Promise<AuthorizerOutcome> {
    if (!identity) return { kind: 'unauthorized' };
    const started = Date.now();
    let result = this.cached(identity);
    if (result === undefined) {
      try {
        const handler = await this.options.handler();
        result = await invoke<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult>(handler, event, {
          functionName: this.options.functionName,
          timeoutMs: this.options.timeoutMs ?? 10_000,
        });
      } catch (error) {
        if (error instanceof Error && error.message === 'Unauthorized') return { kind: 'unauthorized' };
        this.options.logger.error(`${this.options.functionName} failed: ${describeError(error)}`);
        return { kind: 'error' };
      }
      if (!isAuthorizerResult(result)) {
        this.options.logger.error(`${this.options.functionName} returned no principalId/policyDocument: AuthorizerConfigurationException`);
        return { kind: 'error' };
      }
      const ttl = this.options.cacheTtlSeconds ?? 0;
      if (ttl > 0) this.cache.set(identity, { result, expiresAt: Date.now() + ttl * 1000 });
    }
    if (evaluatePolicy(result.policyDocument, event.methodArn) !== 'allow') return { kind: 'forbidden' };
    const context = stringifyContext(result);
    if (context === undefined) {
      this.options.logger.error(`${this.options.functionName} returned a context value that is not a string, number or boolean`);
      return { kind: 'error' };
    }
    return { kind: 'allow', context, latencyMs: Date.now() - started };
  }

  /** Forgets every cached policy (API Gateway's "flush authorizer cache"). */
  flush(): void {
    this.cache.clear();
  }

  private cached(identity: string): APIGatewayAuthorizerResult | undefined {
    const hit = this.cache.get(identity);
    if (hit === undefined) return undefined;
    if (hit.expiresAt <= Date.now()) {
      this.cache.delete(identity);
      return undefined;
    }
    return hit.result;
  }
}

function isAuthorizerResult(value: unknown): value is APIGatewayAuthorizerResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { principalId?: unknown; policyDocument?: unknown };
  return typeof v.principalId === 'string' && typeof v.policyDocument === 'object' && v.policyDocument !== null;
}

/** API Gateway stringifies context values; objects and arrays are a configuration error. */
function stringifyContext(result: APIGatewayAuthorizerResult): AuthorizerContext | undefined {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(result.context ?? {})) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    out[key] = String(value);
  }
  return { ...out, principalId: result.principalId };
}

type PolicyDocument = APIGatewayAuthorizerResult['policyDocument'];

/** IAM evaluation for execute-api:Invoke: an explicit Deny wins, then an Allow, else deny. */
export function evaluatePolicy(policy: PolicyDocument, methodArn: string): 'allow' | 'deny' {
  let allowed = false;
  // The policy comes from the authorizer function: it may have no Statement at all.
  const statements = (policy as { Statement?: unknown }).Statement;
  for (const statement of Array.isArray(statements) ? (statements as unknown[]) : []) {
    const s = statement as { Effect?: string; Action?: string | string[]; Resource?: string | string[] };
    const actions = toList(s.Action);
    const resources = toList(s.Resource);
    const actionMatches = actions.some((a) => wildcard(a.toLowerCase(), 'execute-api:invoke'));
    const resourceMatches = resources.some((r) => wildcard(r, methodArn));
    if (!actionMatches || !resourceMatches) continue;
    if (s.Effect?.toLowerCase() === 'deny') return 'deny';
    if (s.Effect?.toLowerCase() === 'allow') allowed = true;
  }
  return allowed ? 'allow' : 'deny';
}

function toList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** IAM wildcards: `*` any run of characters, `?` one character. */
function wildcard(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(value);
}
