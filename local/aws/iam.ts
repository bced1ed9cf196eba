/**
 * IAM for the local AWS endpoints: who is calling (the SigV4 access key, its signature checked)
 * and whether that principal's identity policies allow an action on a resource, evaluated by
 * @cloud-copilot/iam-simulate (AWS's evaluation logic and its action and resource data), not by
 * a matcher of our own. Principals are plain data: an access key, the role it is a session of,
 * and the role's identity policies as JSON. Nothing here knows where those come from.
 */
import { runSimulation, type RunSimulationResults } from '@cloud-copilot/iam-simulate';
import { validateIdentityPolicy } from '@cloud-copilot/iam-policy';
import { LRUCache } from 'lru-cache';
import {
  INVALID_TOKEN_MESSAGE,
  isAuthenticationFailure,
  parseAuthorization,
  verifySignature,
  type AuthenticationFailure,
  type ReceivedRequest,
} from './sigv4';

export type { AuthenticationFailure, AuthenticationFailureKind, ReceivedRequest } from './sigv4';

type OneOrMany<T> = T | readonly T[];
type ConditionValue = string | number | boolean;

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: OneOrMany<string>;
  readonly NotAction?: OneOrMany<string>;
  readonly Resource?: OneOrMany<string>;
  readonly NotResource?: OneOrMany<string>;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, OneOrMany<ConditionValue>>>>>;
}

/** An identity policy document, as IAM stores it (inline or managed). */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: OneOrMany<PolicyStatement>;
}

/**
 * A policy document as plain JSON (a template's, already resolved): register validates it as
 * IAM would, so its statements need no static type here.
 */
export interface PolicyJson {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: unknown;
}

export interface PrincipalRegistration {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** When given, requests must carry it (X-Amz-Security-Token), as a role session's do. */
  readonly sessionToken?: string;
  /** arn:aws:iam::<account>:role/<path/>name */
  readonly roleArn: string;
  readonly sessionName: string;
  /** Every identity policy of the role, resolved to documents: inline policies and managed ones. */
  readonly policies: readonly (PolicyDocument | PolicyJson)[];
}

export interface Principal {
  readonly accessKeyId: string;
  readonly roleArn: string;
  readonly sessionName: string;
  /** arn:aws:sts::<account>:assumed-role/<role name>/<session name>: the ARN AWS names in a denial. */
  readonly sessionArn: string;
  readonly accountId: string;
}

export interface AuthorizationRequest {
  readonly accessKeyId: string;
  /** service:Action, e.g. dynamodb:GetItem */
  readonly action: string;
  /** The resource ARN, or `*` for actions on no resource (dynamodb:ListTables). */
  readonly resource: string;
  /** Extra request context keys (condition keys of the action), e.g. `dynamodb:LeadingKeys`. */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
  /** The resource as the service names it in its denial message, when not the ARN (Secrets Manager echoes the SecretId). */
  readonly messageResource?: string;
}

export type DecisionReason = 'allowed' | 'implicit-deny' | 'explicit-deny' | 'unknown-key';

export interface Decision {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  /** For a denial, AWS's wording: `User: <session ARN> is not authorized to perform: <action> on resource: <resource> because ...`. */
  readonly message: string;
  readonly action: string;
  readonly resource: string;
}

export type Authentication =
  | { readonly ok: true; readonly principal: Principal; readonly region: string; readonly service: string }
  | { readonly ok: false; readonly failure: AuthenticationFailure };

export interface ExpectedScope {
  /** The signing name of the service, e.g. dynamodb, secretsmanager, cloudfront, execute-api. */
  readonly service: string;
  /** The region the endpoint plays; undefined accepts any. */
  readonly region?: string;
}

export interface IamAuthorityOptions {
  /** Check each request's signature (recomputed over the received request). @default true */
  readonly verifySignatures?: boolean;
  /** How far x-amz-date may be from now, as AWS allows. @default 5 minutes */
  readonly maxClockSkewMs?: number;
  /** Decisions kept per (principal, action, resource, context). @default 10_000 */
  readonly cacheEntries?: number;
  readonly now?: () => number;
}

/** An evaluation that could not run: an action or resource ARN iam-simulate does not know, or a malformed policy. */
export class IamEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IamEvaluationError';
  }
}

interface Registered {
  readonly principal: Principal;
  readonly secretAccessKey: string;
  readonly sessionToken: string | undefined;
  readonly policies: { name: string; policy: PolicyDocument | PolicyJson }[];
}

const ROLE_ARN = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/** arn:aws:iam::123456789012:role/path/Name + session → arn:aws:sts::123456789012:assumed-role/Name/session (the path is dropped, as AWS does). */
export function assumedRoleArn(roleArn: string, sessionName: string): string {
  const m = ROLE_ARN.exec(roleArn);
  if (m === null) throw new Error(`not a role ARN: ${roleArn} (expected arn:aws:iam::<12-digit account>:role/<name>)`);
  return `arn:${m[1] as string}:sts::${m[2] as string}:assumed-role/${m[3] as string}/${sessionName}`;
}

export class IamAuthority {
  private readonly principals = new Map<string, Registered>();
  private readonly decisions: LRUCache<string, Promise<Decision>>;
  private readonly verifySignatures: boolean;
  private readonly maxClockSkewMs: number;
  private readonly now: () => number;

  constructor(options: IamAuthorityOptions = {}) {
    this.verifySignatures = options.verifySignatures ?? true;
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.decisions = new LRUCache({ max: options.cacheEntries ?? 10_000 });
  }

  /** Adds (or replaces) a principal. Throws for a role ARN or a policy document IAM would reject. */
  register(registration: PrincipalRegistration): Principal {
    const m = ROLE_ARN.exec(registration.roleArn);
    if (m === null) throw new Error(`principal ${registration.accessKeyId}: not a role ARN: ${registration.roleArn}`);
    const policies = registration.policies.map((policy, i) => {
      const errors = validateIdentityPolicy(policy);
      if (errors.length > 0) {
        throw new Error(`principal ${registration.roleArn}: identity policy #${String(i + 1)} is not valid: ${JSON.stringify(errors)}`);
      }
      return { name: `policy-${String(i + 1)}`, policy };
    });
    const principal: Principal = {
      accessKeyId: registration.accessKeyId,
      roleArn: registration.roleArn,
      sessionName: registration.sessionName,
      sessionArn: assumedRoleArn(registration.roleArn, registration.sessionName),
      accountId: m[2] as string,
    };
    this.principals.set(registration.accessKeyId, {
      principal,
      secretAccessKey: registration.secretAccessKey,
      sessionToken: registration.sessionToken,
      policies,
    });
    this.decisions.clear();
    return principal;
  }

  unregister(accessKeyId: string): boolean {
    this.decisions.clear();
    return this.principals.delete(accessKeyId);
  }

  principal(accessKeyId: string): Principal | undefined {
    return this.principals.get(accessKeyId)?.principal;
  }

  /**
   * Who sent the request: the SigV4 Authorization header's access key, which must be registered,
   * carry the registered session token (if any) and, unless verifySignatures is off, a signature
   * that matches the request as received. The endpoint turns a failure into its own error format.
   */
  async authenticate(request: ReceivedRequest, expected: ExpectedScope): Promise<Authentication> {
    const auth = parseAuthorization(request.headers);
    if (isAuthenticationFailure(auth)) return { ok: false, failure: auth };
    const registered = this.principals.get(auth.accessKeyId);
    const token = request.headers['x-amz-security-token'];
    if (registered === undefined || (registered.sessionToken !== undefined && token !== registered.sessionToken)) {
      return { ok: false, failure: { kind: 'unknown-key', message: INVALID_TOKEN_MESSAGE } };
    }
    if (this.verifySignatures) {
      const failure = await verifySignature(request, auth, {
        secretAccessKey: registered.secretAccessKey,
        service: expected.service,
        region: expected.region,
        now: this.now(),
        maxClockSkewMs: this.maxClockSkewMs,
      });
      if (failure !== undefined) return { ok: false, failure };
    }
    return { ok: true, principal: registered.principal, region: auth.region, service: auth.service };
  }

  /**
   * Whether the principal's identity policies allow the action on the resource (explicit Deny
   * wins, no Allow is an implicit deny). Decisions are cached per (principal, action, resource,
   * context): an evaluation costs about half a millisecond, a cached one nothing.
   * Throws IamEvaluationError when the evaluator cannot run (unknown action, resource ARN of a
   * type the action does not take): a mapping bug that must not pass as a grant or a denial.
   */
  authorize(request: AuthorizationRequest): Promise<Decision> {
    const key = [
      request.accessKeyId,
      request.action,
      request.resource,
      request.messageResource ?? '',
      JSON.stringify(request.context ?? {}),
    ].join('\u0000');
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const decision = this.evaluate(request);
    this.decisions.set(key, decision);
    // A failed evaluation is not kept.
    decision.catch(() => this.decisions.delete(key));
    return decision;
  }

  /**
   * Loads the evaluator's action and resource data of these services now (the first evaluation
   * of a service reads it from disk: tens of milliseconds), so no caller's first request waits.
   */
  async warmUp(
    samples: readonly { action: string; resource: string }[] = [
      { action: 'dynamodb:GetItem', resource: 'arn:aws:dynamodb:us-east-1:123456789012:table/warm-up' },
      { action: 'secretsmanager:GetSecretValue', resource: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:warm-up-AbCdEf' },
      { action: 'cloudfront:CreateInvalidation', resource: 'arn:aws:cloudfront::123456789012:distribution/EWARMUP' },
      { action: 'execute-api:ManageConnections', resource: 'arn:aws:execute-api:us-east-1:123456789012:api/stage/POST/@connections/id' },
    ],
  ): Promise<void> {
    const results = await Promise.all(
      samples.map((sample) =>
        runSimulation(
          {
            request: {
              principal: 'arn:aws:sts::123456789012:assumed-role/WarmUp/warm-up',
              action: sample.action,
              resource: { resource: sample.resource, accountId: '123456789012' },
              contextVariables: {},
            },
            identityPolicies: [],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
          },
          {},
        ),
      ),
    );
    results.forEach((result, i) => {
      if (result.resultType === 'error') {
        throw new IamEvaluationError(`warm-up of ${JSON.stringify(samples[i])}: ${JSON.stringify(result.errors)}`);
      }
    });
  }

  /** Every check in order; the first denial is the answer (a transaction is refused whole). */
  async authorizeAll(accessKeyId: string, checks: readonly Omit<AuthorizationRequest, 'accessKeyId'>[]): Promise<Decision> {
    const decisions = await Promise.all(checks.map((check) => this.authorize({ ...check, accessKeyId })));
    const denied = decisions.find((d) => !d.allowed);
    if (denied !== undefined) return denied;
    const first = decisions[0];
    if (first === undefined) throw new IamEvaluationError('authorizeAll needs at least one check');
    return first;
  }

  private async evaluate(request: AuthorizationRequest): Promise<Decision> {
    const shown = request.messageResource ?? request.resource;
    const registered = this.principals.get(request.accessKeyId);
    if (registered === undefined) {
      return { allowed: false, reason: 'unknown-key', message: INVALID_TOKEN_MESSAGE, action: request.action, resource: request.resource };
    }
    const { principal } = registered;
    const resourceAccount = /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(request.resource)?.[1] ?? principal.accountId;
    let result: RunSimulationResults;
    try {
      result = await runSimulation(
        {
          request: {
            principal: principal.sessionArn,
            action: request.action,
            resource: { resource: request.resource, accountId: resourceAccount },
            contextVariables: {
              'aws:PrincipalArn': principal.roleArn,
              'aws:PrincipalAccount': principal.accountId,
              'aws:PrincipalType': 'AssumedRole',
              // Deployed functions reach AWS over TLS; the local endpoints play that.
              'aws:SecureTransport': 'true',
              ...Object.fromEntries(Object.entries(request.context ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : [...v]])),
            },
          },
          identityPolicies: registered.policies,
          serviceControlPolicies: [],
          resourceControlPolicies: [],
        },
        {},
      );
    } catch (error) {
      throw new IamEvaluationError(`could not evaluate ${request.action} on ${request.resource}: ${String(error)}`);
    }
    if (result.resultType === 'error') {
      throw new IamEvaluationError(`could not evaluate ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
    }
    const base = `User: ${principal.sessionArn} is not authorized to perform: ${request.action} on resource: ${shown}`;
    switch (result.overallResult) {
      case 'Allowed':
        return { allowed: true, reason: 'allowed', message: '', action: request.action, resource: request.resource };
      case 'ExplicitlyDenied':
        return {
          allowed: false,
          reason: 'explicit-deny',
          message: `${base} with an explicit deny in an identity-based policy`,
          action: request.action,
          resource: request.resource,
        };
      case 'ImplicitlyDenied':
        return {
          allowed: false,
          reason: 'implicit-deny',
          message: `${base} because no identity-based policy allows the ${request.action} action`,
          action: request.action,
          resource: request.resource,
        };
    }
  }
}
