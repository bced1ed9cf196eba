/**
 * A local AWS Secrets Manager endpoint (JSON 1.1, `X-Amz-Target: secretsmanager.<Op>`) for the
 * real SecretsManagerClient: GetSecretValue, DescribeSecret, PutSecretValue, UpdateSecret,
 * UpdateSecretVersionStage and CreateSecret, on secrets given as data, with versions and their
 * AWSCURRENT / AWSPREVIOUS staging labels moved as AWS moves them (enough for a rotation).
 * Every call is authenticated (SigV4) and authorized (secretsmanager:<Op> on the secret's ARN;
 * IAM comes first, so a missing secret the caller may not read is AccessDenied, not NotFound).
 * Faults for tests: the next N calls answer ThrottlingException, another error, or hang.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, silentLogger, type Logger } from '../log';
import { BoundedLog, listen, parseJsonObject, readBody, sendJson, sendJsonError, type ListenOptions, type LocalEndpoint } from './http';
import { IamEvaluationError, type AuthenticationFailureKind, type IamAuthority, type Principal } from './iam';

const JSON_1_1 = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'secretsmanager.';
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
/** Versions without a staging label are deprecated; AWS keeps about 100 of them. */
const MAX_VERSIONS = 100;
const MAX_REQUEST_BYTES = 128 * 1024;

export interface SecretSeed {
  readonly name: string;
  /** arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>; made up when absent. */
  readonly arn?: string;
  /** SecretString, or SecretBinary when bytes. */
  readonly value: string | Uint8Array;
  readonly description?: string;
  readonly kmsKeyId?: string;
}

export interface SecretVersionView {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly value: string | Uint8Array;
  /** epoch ms */
  readonly createdAt: number;
}

export interface SecretView {
  readonly name: string;
  readonly arn: string;
  readonly versions: readonly SecretVersionView[];
}

/** A fault: ThrottlingException ("Rate exceeded"), any other error, or no answer at all. */
export type SecretsManagerFault = 'throttle' | 'hang' | { readonly status: number; readonly type: string; readonly message: string };

export interface SecretsManagerCall {
  /** epoch ms */
  readonly at: number;
  readonly operation: string;
  readonly secretId?: string;
  readonly principal?: Principal;
  /** 'ok', or the error type answered, or 'hang' */
  readonly outcome: string;
}

export interface SecretsManagerOptions extends ListenOptions {
  readonly authority: IamAuthority;
  readonly region: string;
  readonly accountId: string;
  readonly secrets?: readonly SecretSeed[];
  /** Longest a hanging call is held before its socket is destroyed. @default 5 minutes */
  readonly maxHangMs?: number;
  /** Calls kept for calls(). @default 1000 */
  readonly callLogSize?: number;
  readonly logger?: Logger;
}

export interface LocalSecretsManager extends LocalEndpoint {
  /** Adds a secret (its value is the AWSCURRENT version). Throws when the name exists. */
  addSecret(seed: SecretSeed): SecretView;
  /** The secret by name or ARN, as stored now (inspection for tests). */
  secret(secretId: string): SecretView | undefined;
  /**
   * A new version as the secret's AWSCURRENT (the one before becomes AWSPREVIOUS), as an operator's
   * PutSecretValue makes it in a rotation: from outside the deployment, so without its IAM.
   */
  putValue(secretId: string, value: string | Uint8Array): SecretView;
  /** The next `count` calls (of `operations`, default all) answer the fault instead. */
  failNext(count: number, fault: SecretsManagerFault, operations?: readonly string[]): void;
  clearFaults(): void;
  /** The last calls, oldest first. */
  calls(): SecretsManagerCall[];
}

interface Version {
  readonly versionId: string;
  readonly value: string | Uint8Array;
  readonly stages: Set<string>;
  readonly createdAt: number;
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  description: string | undefined;
  kmsKeyId: string | undefined;
  readonly createdAt: number;
  lastChangedAt: number;
  lastAccessedAt: number | undefined;
  /** Oldest first. */
  readonly versions: Version[];
}

interface PendingFault {
  remaining: number;
  readonly fault: SecretsManagerFault;
  readonly operations: readonly string[] | undefined;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function suffix(): string {
  let out = '';
  for (let i = 0; i < 6; i++) out += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)] as string;
  return out;
}

const AUTH_ERRORS: Record<AuthenticationFailureKind, string> = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  'unknown-key': 'UnrecognizedClientException',
  'invalid-signature': 'InvalidSignatureException',
};

/** Epoch seconds with milliseconds, as the JSON protocols carry timestamps. */
const seconds = (ms: number): number => ms / 1000;

function valueOf(body: Record<string, unknown>): string | Uint8Array | undefined {
  if (typeof body.SecretString === 'string') return body.SecretString;
  if (typeof body.SecretBinary === 'string') return new Uint8Array(Buffer.from(body.SecretBinary, 'base64'));
  return undefined;
}

function sameValue(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

function valueFields(value: string | Uint8Array): Record<string, string> {
  return typeof value === 'string' ? { SecretString: value } : { SecretBinary: Buffer.from(value).toString('base64') };
}

export async function startSecretsManager(options: SecretsManagerOptions): Promise<LocalSecretsManager> {
  const logger = options.logger ?? silentLogger;
  const maxHangMs = options.maxHangMs ?? 5 * 60_000;
  const secrets = new Map<string, Secret>(); // by ARN
  const faults: PendingFault[] = [];
  const log = new BoundedLog<SecretsManagerCall>(options.callLogSize ?? 1000);
  const held = new Set<NodeJS.Timeout>();
  const arnPrefix = `arn:aws:secretsmanager:${options.region}:${options.accountId}:secret:`;

  const find = (secretId: string): Secret | undefined => {
    const byArn = secrets.get(secretId);
    if (byArn !== undefined) return byArn;
    for (const secret of secrets.values()) {
      // A name, or a partial ARN (the ARN without its 6-character suffix).
      if (secret.name === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    return undefined;
  };

  const view = (secret: Secret): SecretView => ({
    name: secret.name,
    arn: secret.arn,
    versions: secret.versions.map((v) => ({ versionId: v.versionId, stages: [...v.stages], value: v.value, createdAt: v.createdAt })),
  });

  const addVersion = (secret: Secret, value: string | Uint8Array, versionId: string, stages: readonly string[]): Version => {
    const version: Version = { versionId, value, stages: new Set(), createdAt: Date.now() };
    secret.versions.push(version);
    for (const stage of stages) moveStage(secret, stage, version);
    // Deprecated versions (no label) beyond the limit go, oldest first.
    while (secret.versions.length > MAX_VERSIONS) {
      const i = secret.versions.findIndex((v) => v.stages.size === 0);
      if (i < 0) break;
      secret.versions.splice(i, 1);
    }
    secret.lastChangedAt = Date.now();
    return version;
  };

  /** A label is on one version at a time; moving AWSCURRENT leaves AWSPREVIOUS on the version it left. */
  const moveStage = (secret: Secret, stage: string, to: Version | undefined): void => {
    const from = secret.versions.find((v) => v.stages.has(stage));
    if (from === to) return;
    from?.stages.delete(stage);
    to?.stages.add(stage);
    if (stage === CURRENT && from !== undefined) moveStage(secret, PREVIOUS, from);
  };

  const addSecret = (seed: SecretSeed): Secret => {
    if (find(seed.name) !== undefined)
      throw new ApiError('ResourceExistsException', `The operation failed because the secret ${seed.name} already exists.`);
    const arn = seed.arn ?? `${arnPrefix}${seed.name}-${suffix()}`;
    const now = Date.now();
    const secret: Secret = {
      name: seed.name,
      arn,
      description: seed.description,
      kmsKeyId: seed.kmsKeyId,
      createdAt: now,
      lastChangedAt: now,
      lastAccessedAt: undefined,
      versions: [],
    };
    secrets.set(arn, secret);
    addVersion(secret, seed.value, randomUUID(), [CURRENT]);
    return secret;
  };
  for (const seed of options.secrets ?? []) addSecret(seed);

  const requireSecret = (secretId: string): Secret => {
    const secret = find(secretId);
    if (secret === undefined) throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  };

  const idempotentVersion = (secret: Secret, token: string | undefined, value: string | Uint8Array): Version | undefined => {
    if (token === undefined) return undefined;
    const existing = secret.versions.find((v) => v.versionId === token);
    if (existing === undefined) return undefined;
    if (!sameValue(existing.value, value)) {
      throw new ApiError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    }
    return existing;
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    GetSecretValue: (body) => {
      const secret = requireSecret(String(body.SecretId));
      const versionId = typeof body.VersionId === 'string' ? body.VersionId : undefined;
      const stage = typeof body.VersionStage === 'string' ? body.VersionStage : versionId === undefined ? CURRENT : undefined;
      const version = secret.versions.find(
        (v) => (versionId === undefined || v.versionId === versionId) && (stage === undefined || v.stages.has(stage)),
      );
      if (version === undefined) {
        throw new ApiError(
          'ResourceNotFoundException',
          versionId !== undefined
            ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`
            : `Secrets Manager can't find the specified secret value for staging label: ${String(stage)}`,
        );
      }
      secret.lastAccessedAt = Date.now();
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        ...valueFields(version.value),
        VersionStages: [...version.stages],
        CreatedDate: seconds(version.createdAt),
      };
    },
    DescribeSecret: (body) => {
      const secret = requireSecret(String(body.SecretId));
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description === undefined ? {} : { Description: secret.description }),
        ...(secret.kmsKeyId === undefined ? {} : { KmsKeyId: secret.kmsKeyId }),
        RotationEnabled: false,
        CreatedDate: seconds(secret.createdAt),
        LastChangedDate: seconds(secret.lastChangedAt),
        ...(secret.lastAccessedAt === undefined
          ? {}
          : { LastAccessedDate: seconds(Math.floor(secret.lastAccessedAt / 86_400_000) * 86_400_000) }),
        VersionIdsToStages: Object.fromEntries(secret.versions.filter((v) => v.stages.size > 0).map((v) => [v.versionId, [...v.stages]])),
        Tags: [],
      };
    },
    PutSecretValue: (body) => {
      const secret = requireSecret(String(body.SecretId));
      const value = valueOf(body);
      if (value === undefined) throw new ApiError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined;
      const stages = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : [CURRENT];
      const version = idempotentVersion(secret, token, value) ?? addVersion(secret, value, token ?? randomUUID(), stages);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
    },
    UpdateSecret: (body) => {
      const secret = requireSecret(String(body.SecretId));
      if (typeof body.Description === 'string') secret.description = body.Description;
      if (typeof body.KmsKeyId === 'string') secret.kmsKeyId = body.KmsKeyId;
      const value = valueOf(body);
      secret.lastChangedAt = Date.now();
      if (value === undefined) return { ARN: secret.arn, Name: secret.name };
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined;
      const version = idempotentVersion(secret, token, value) ?? addVersion(secret, value, token ?? randomUUID(), [CURRENT]);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId };
    },
    UpdateSecretVersionStage: (body) => {
      const secret = requireSecret(String(body.SecretId));
      const stage = String(body.VersionStage);
      const to = typeof body.MoveToVersionId === 'string' ? body.MoveToVersionId : undefined;
      const fromId = typeof body.RemoveFromVersionId === 'string' ? body.RemoveFromVersionId : undefined;
      const holder = secret.versions.find((v) => v.stages.has(stage));
      if (holder !== undefined && holder.versionId !== fromId && holder.versionId !== to) {
        throw new ApiError(
          'InvalidParameterException',
          `The staging label ${stage} is currently attached to version ${holder.versionId}. You must specify the RemoveFromVersionId parameter.`,
        );
      }
      const target = to === undefined ? undefined : secret.versions.find((v) => v.versionId === to);
      if (to !== undefined && target === undefined) {
        throw new ApiError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${to}`);
      }
      moveStage(secret, stage, target);
      secret.lastChangedAt = Date.now();
      return { ARN: secret.arn, Name: secret.name };
    },
    CreateSecret: (body) => {
      const name = String(body.Name);
      const value = valueOf(body);
      const created = addSecret({
        name,
        value: value ?? '',
        ...(typeof body.Description === 'string' ? { description: body.Description } : {}),
        ...(typeof body.KmsKeyId === 'string' ? { kmsKeyId: body.KmsKeyId } : {}),
      });
      const version = created.versions[0] as Version;
      if (value === undefined) created.versions.length = 0;
      return { ARN: created.arn, Name: created.name, ...(value === undefined ? {} : { VersionId: version.versionId }) };
    },
  };

  const takeFault = (operation: string): SecretsManagerFault | undefined => {
    const pending = faults.find((f) => f.operations === undefined || f.operations.includes(operation));
    if (pending === undefined) return undefined;
    pending.remaining -= 1;
    if (pending.remaining <= 0) faults.splice(faults.indexOf(pending), 1);
    return pending.fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : '';
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    let secretId: string | undefined;
    // Known once authenticated, for the call log of however the call ends.
    const caller: { principal?: Principal } = {};
    const answerError = (type: string, message: string, status = 400): void => {
      sendJsonError(res, status, JSON_1_1, type, message, 'Message');
      log.push({
        at,
        operation,
        ...(secretId === undefined ? {} : { secretId }),
        ...(caller.principal === undefined ? {} : { principal: caller.principal }),
        outcome: type,
      });
    };

    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (body === 'too-large') {
      answerError('InvalidRequestException', `The request is larger than ${String(MAX_REQUEST_BYTES)} bytes.`);
      return;
    }
    const parsed = parseJsonObject(body);
    if (parsed !== undefined) {
      const id = parsed.SecretId ?? parsed.Name;
      if (typeof id === 'string') secretId = id;
    }

    const fault = takeFault(operation);
    if (fault === 'hang') {
      log.push({ at, operation, ...(secretId === undefined ? {} : { secretId }), outcome: 'hang' });
      const timer = setTimeout(() => {
        held.delete(timer);
        res.destroy();
      }, maxHangMs);
      held.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        held.delete(timer);
      });
      return;
    }
    if (fault === 'throttle') {
      answerError('ThrottlingException', 'Rate exceeded');
      return;
    }
    if (fault !== undefined) {
      answerError(fault.type, fault.message, fault.status);
      return;
    }

    const auth = await options.authority.authenticate(
      { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body },
      { service: 'secretsmanager', region: options.region },
    );
    if (!auth.ok) {
      answerError(AUTH_ERRORS[auth.failure.kind], auth.failure.message);
      return;
    }
    const principal = auth.principal;
    caller.principal = principal;

    const run = operations[operation];
    if (!target.startsWith(TARGET_PREFIX) || run === undefined) {
      answerError('UnknownOperationException', `The operation ${operation} is not supported by the local Secrets Manager.`);
      return;
    }
    if (parsed === undefined) {
      answerError('SerializationException', 'The request body is not a JSON object.');
      return;
    }
    if (secretId === undefined) {
      answerError(
        'ValidationException',
        `1 validation error detected: Value null at '${operation === 'CreateSecret' ? 'name' : 'secretId'}' failed to satisfy constraint: Member must not be null`,
      );
      return;
    }

    const known = find(secretId);
    const resource = known?.arn ?? (secretId.startsWith('arn:') ? secretId : `${arnPrefix}${secretId}`);
    try {
      const decision = await options.authority.authorize({
        accessKeyId: principal.accessKeyId,
        action: `secretsmanager:${operation}`,
        resource,
        messageResource: secretId,
      });
      if (!decision.allowed) {
        answerError('AccessDeniedException', decision.message);
        return;
      }
    } catch (error) {
      if (!(error instanceof IamEvaluationError)) throw error;
      logger.error(`secrets manager: ${describeError(error)}`);
      answerError('InternalServiceError', 'An error occurred on the server side.', 500);
      return;
    }

    try {
      const result = run(parsed);
      sendJson(res, JSON_1_1, result);
      log.push({ at, operation, secretId, principal, outcome: 'ok' });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      answerError(error.type, error.message, error.status);
    }
  };

  const { endpoint } = await listen((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`secrets manager: ${describeError(error)}`);
      if (!res.headersSent) sendJsonError(res, 500, JSON_1_1, 'InternalServiceError', 'An error occurred on the server side.', 'Message');
      else res.destroy();
    });
  }, options);

  return {
    ...endpoint,
    close: async () => {
      for (const timer of held) clearTimeout(timer);
      held.clear();
      await endpoint.close();
    },
    addSecret: (seed) => view(addSecret(seed)),
    secret: (secretId) => {
      const secret = find(secretId);
      return secret === undefined ? undefined : view(secret);
    },
    putValue: (secretId, value) => {
      const secret = find(secretId);
      if (secret === undefined) throw new Error(`no secret ${secretId}`);
      addVersion(secret, value, randomUUID(), [CURRENT]);
      return view(secret);
    },
    failNext: (count, fault, ops) => {
      if (count > 0) faults.push({ remaining: count, fault, operations: ops });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    calls: () => log.all(),
  };
}
