/**
 * A local CloudFront endpoint for invalidations (REST-XML, API version 2020-05-31), for the real
 * CloudFrontClient: CreateInvalidation, GetInvalidation, ListInvalidations. Invalidations are
 * InProgress, then Completed after a set delay; CloudFront's limits hold (at most 3,000 file
 * paths and 15 wildcard paths in progress per distribution, past which
 * TooManyInvalidationsInProgress); the same CallerReference is the same invalidation. Every call
 * is authenticated (SigV4) and authorized (cloudfront:<Op> on the distribution's ARN). What was
 * purged, and when, is kept for tests to assert.
 */
import { parseXML } from '@aws-sdk/xml-builder';
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, silentLogger, type Logger } from '../log';
import { listen, readBody, requestId, type ListenOptions, type LocalEndpoint } from './http';
import { IamEvaluationError, type AuthenticationFailureKind, type IamAuthority, type Principal } from './iam';

const VERSION = '2020-05-31';
const XMLNS = `http://cloudfront.amazonaws.com/doc/${VERSION}/`;
const MAX_BODY_BYTES = 1024 * 1024;
const ROUTE = new RegExp(`^/${VERSION}/distribution/([^/]+)/invalidation(?:/([^/]+))?/?$`);

export type InvalidationStatus = 'InProgress' | 'Completed';

export interface RecordedInvalidation {
  readonly distributionId: string;
  readonly id: string;
  readonly callerReference: string;
  readonly paths: readonly string[];
  /** epoch ms */
  readonly createdAt: number;
  /** epoch ms at which it is (or will be) Completed */
  readonly completesAt: number;
  readonly status: InvalidationStatus;
  readonly principal: Principal;
}

export interface CloudFrontOptions extends ListenOptions {
  readonly authority: IamAuthority;
  readonly accountId: string;
  /** Distribution ids that exist (others answer NoSuchDistribution). */
  readonly distributions?: readonly string[];
  /** From creation to Completed. @default 2000 ms */
  readonly completionDelayMs?: number;
  /** File (non-wildcard) paths in progress per distribution. @default 3000 */
  readonly maxInProgressPaths?: number;
  /** Wildcard paths in progress per distribution. @default 15 */
  readonly maxInProgressWildcardPaths?: number;
  /** Invalidations kept per distribution (the oldest Completed ones go first). @default 10_000 */
  readonly maxKept?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface LocalCloudFront extends LocalEndpoint {
  addDistribution(id: string): void;
  /** Every invalidation kept, oldest first (of one distribution, or all). */
  invalidations(distributionId?: string): RecordedInvalidation[];
  /** Every path invalidated, in the order of their invalidations. */
  purgedPaths(distributionId?: string): string[];
  /** Makes every invalidation in progress Completed now. */
  completeAll(): void;
  /** Forgets every invalidation (distributions stay). */
  clear(): void;
}

interface Invalidation {
  readonly distributionId: string;
  readonly id: string;
  readonly callerReference: string;
  readonly paths: readonly string[];
  readonly createdAt: number;
  completesAt: number;
  readonly principal: Principal;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const AUTH_ERRORS: Record<AuthenticationFailureKind, string> = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  'unknown-key': 'InvalidClientTokenId',
  'invalid-signature': 'SignatureDoesNotMatch',
};

const OPERATIONS: Record<string, string> = {
  'POST collection': 'CreateInvalidation',
  'GET collection': 'ListInvalidations',
  'GET item': 'GetInvalidation',
};

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function invalidationId(): string {
  let id = 'I';
  for (let i = 0; i < 13; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)] as string;
  return id;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function asList(value: unknown): unknown[] {
  if (value === undefined || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

/** The InvalidationBatch of a CreateInvalidation body. */
function parseBatch(body: Buffer): { callerReference: string; paths: string[] } {
  if (body.length === 0) {
    throw new ApiError(
      400,
      'MissingBody',
      'This operation requires a body. Ensure that the body is present and the Content-Type header is set.',
    );
  }
  let parsed: unknown;
  try {
    parsed = parseXML(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'MalformedInput', 'Could not parse the XML body.');
  }
  const batch = (
    parsed as { InvalidationBatch?: { Paths?: { Quantity?: unknown; Items?: { Path?: unknown } }; CallerReference?: unknown } }
  ).InvalidationBatch;
  if (batch === undefined || typeof batch !== 'object') throw new ApiError(400, 'MalformedInput', 'The body is not an InvalidationBatch.');
  const callerReference = batch.CallerReference;
  if (typeof callerReference !== 'string' || callerReference === '') {
    throw new ApiError(400, 'InvalidArgument', 'The CallerReference of the InvalidationBatch is required.');
  }
  const paths = asList(batch.Paths?.Items?.Path).map(String);
  if (Number(batch.Paths?.Quantity) !== paths.length) {
    throw new ApiError(400, 'InconsistentQuantities', "The value of Quantity and the size of Items don't match.");
  }
  if (paths.length === 0) throw new ApiError(400, 'InvalidArgument', 'The InvalidationBatch has no Paths.');
  for (const path of paths) {
    if (!path.startsWith('/') || (path.includes('*') && path.indexOf('*') !== path.length - 1)) {
      throw new ApiError(400, 'InvalidArgument', `Your request contains one or more invalid invalidation paths: ${path}`);
    }
  }
  return { callerReference, paths };
}

export async function startCloudFront(options: CloudFrontOptions): Promise<LocalCloudFront> {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const completionDelayMs = options.completionDelayMs ?? 2000;
  const maxPaths = options.maxInProgressPaths ?? 3000;
  const maxWildcards = options.maxInProgressWildcardPaths ?? 15;
  const maxKept = options.maxKept ?? 10_000;
  const distributions = new Map<string, Invalidation[]>((options.distributions ?? []).map((id) => [id, []]));
  let baseUrl = '';

  const statusOf = (inv: Invalidation): InvalidationStatus => (now() >= inv.completesAt ? 'Completed' : 'InProgress');

  const invalidationXml = (inv: Invalidation): string =>
    `<Invalidation xmlns="${XMLNS}"><Id>${inv.id}</Id><Status>${statusOf(inv)}</Status><CreateTime>${iso(inv.createdAt)}</CreateTime>` +
    `<InvalidationBatch><Paths><Quantity>${String(inv.paths.length)}</Quantity><Items>${inv.paths.map((p) => `<Path>${escapeXml(p)}</Path>`).join('')}</Items></Paths>` +
    `<CallerReference>${escapeXml(inv.callerReference)}</CallerReference></InvalidationBatch></Invalidation>`;

  const sendXml = (res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
    res.writeHead(status, {
      'Content-Type': 'text/xml',
      'Content-Length': Buffer.byteLength(body),
      'x-amz-request-id': requestId(),
      ...headers,
    });
    res.end(body);
  };

  const sendError = (res: ServerResponse, status: number, code: string, message: string): void => {
    const id = requestId();
    sendXml(
      res,
      status,
      `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${id}</RequestId></ErrorResponse>`,
    );
  };

  const create = (
    distributionId: string,
    list: Invalidation[],
    body: Buffer,
    principal: Principal,
  ): { status: number; inv: Invalidation } => {
    const { callerReference, paths } = parseBatch(body);
    const same = list.find((inv) => inv.callerReference === callerReference);
    if (same !== undefined) {
      if (JSON.stringify([...same.paths].sort()) === JSON.stringify([...paths].sort())) return { status: 201, inv: same };
      throw new ApiError(
        409,
        'InvalidationBatchAlreadyExists',
        `An invalidation batch with the CallerReference ${callerReference} already exists with other paths.`,
      );
    }
    const inProgress = list.filter((inv) => statusOf(inv) === 'InProgress').flatMap((inv) => inv.paths);
    const isWildcard = (p: string): boolean => p.endsWith('*');
    const wildcards = inProgress.filter(isWildcard).length + paths.filter(isWildcard).length;
    const files = inProgress.length + paths.length - wildcards;
    if (files > maxPaths || wildcards > maxWildcards) {
      throw new ApiError(
        400,
        'TooManyInvalidationsInProgress',
        'You have exceeded the maximum number of allowable InProgress Invalidation batch requests, or invalidation objects.',
      );
    }
    const createdAt = now();
    const inv: Invalidation = {
      distributionId,
      id: invalidationId(),
      callerReference,
      paths,
      createdAt,
      completesAt: createdAt + completionDelayMs,
      principal,
    };
    list.push(inv);
    if (list.length > maxKept) {
      const i = list.findIndex((old) => statusOf(old) === 'Completed');
      if (i >= 0) list.splice(i, 1);
    }
    return { status: 201, inv };
  };

  const list = (res: ServerResponse, invalidations: readonly Invalidation[], query: URLSearchParams): void => {
    const maxItems = Math.max(1, Math.min(1000, Number(query.get('MaxItems') ?? 100) || 100));
    const marker = query.get('Marker') ?? '';
    const newestFirst = [...invalidations].reverse();
    const start = marker === '' ? 0 : newestFirst.findIndex((inv) => inv.id === marker) + 1;
    const page = newestFirst.slice(start, start + maxItems);
    const truncated = start + maxItems < newestFirst.length;
    const items = page
      .map(
        (inv) =>
          `<InvalidationSummary><Id>${inv.id}</Id><CreateTime>${iso(inv.createdAt)}</CreateTime><Status>${statusOf(inv)}</Status></InvalidationSummary>`,
      )
      .join('');
    sendXml(
      res,
      200,
      `<InvalidationList xmlns="${XMLNS}"><Marker>${escapeXml(marker)}</Marker>${truncated ? `<NextMarker>${(page[page.length - 1] as Invalidation).id}</NextMarker>` : ''}` +
        `<MaxItems>${String(maxItems)}</MaxItems><IsTruncated>${String(truncated)}</IsTruncated><Quantity>${String(page.length)}</Quantity>${page.length > 0 ? `<Items>${items}</Items>` : ''}</InvalidationList>`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === 'too-large') {
      sendError(res, 413, 'BatchTooLarge', 'Invalidation batch specified is too large.');
      return;
    }
    const route = ROUTE.exec(url.pathname);
    const operation = route === null ? undefined : OPERATIONS[`${req.method ?? ''} ${route[2] === undefined ? 'collection' : 'item'}`];

    const auth = await options.authority.authenticate(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      // CloudFront is global (signed for us-east-1 at its real endpoint), but a client given an
      // endpoint signs for its own region: any region is accepted.
      { service: 'cloudfront' },
    );
    if (!auth.ok) {
      sendError(res, 403, AUTH_ERRORS[auth.failure.kind], auth.failure.message);
      return;
    }
    if (route === null || operation === undefined) {
      sendError(res, 404, 'UnknownOperation', `The local CloudFront plays invalidations only, not ${req.method ?? ''} ${url.pathname}`);
      return;
    }
    let distributionId: string;
    let invalidation: string | undefined;
    try {
      distributionId = decodeURIComponent(route[1] as string);
      invalidation = route[2] === undefined ? undefined : decodeURIComponent(route[2]);
    } catch {
      sendError(res, 400, 'InvalidArgument', 'The distribution or invalidation id is not valid.');
      return;
    }

    try {
      const decision = await options.authority.authorize({
        accessKeyId: auth.principal.accessKeyId,
        action: `cloudfront:${operation}`,
        resource: `arn:aws:cloudfront::${options.accountId}:distribution/${distributionId}`,
      });
      if (!decision.allowed) {
        sendError(res, 403, 'AccessDenied', decision.message);
        return;
      }
    } catch (error) {
      if (!(error instanceof IamEvaluationError)) throw error;
      logger.error(`cloudfront: ${describeError(error)}`);
      sendError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
      return;
    }

    const invalidations = distributions.get(distributionId);
    if (invalidations === undefined) {
      sendError(res, 404, 'NoSuchDistribution', 'The specified distribution does not exist.');
      return;
    }
    try {
      switch (operation) {
        case 'CreateInvalidation': {
          const { status, inv } = create(distributionId, invalidations, body, auth.principal);
          sendXml(res, status, invalidationXml(inv), {
            Location: `${baseUrl}/${VERSION}/distribution/${distributionId}/invalidation/${inv.id}`,
          });
          return;
        }
        case 'GetInvalidation': {
          const inv = invalidations.find((i) => i.id === invalidation);
          if (inv === undefined) {
            sendError(res, 404, 'NoSuchInvalidation', 'The specified invalidation does not exist.');
            return;
          }
          sendXml(res, 200, invalidationXml(inv));
          return;
        }
        default:
          list(res, invalidations, url.searchParams);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      sendError(res, error.status, error.code, error.message);
    }
  };

  const { endpoint } = await listen((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`cloudfront: ${describeError(error)}`);
      if (!res.headersSent) sendError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
      else res.destroy();
    });
  }, options);
  baseUrl = endpoint.url;

  const view = (inv: Invalidation): RecordedInvalidation => ({ ...inv, status: statusOf(inv) });
  const selected = (distributionId?: string): Invalidation[] =>
    distributionId === undefined
      ? [...distributions.values()].flat().sort((a, b) => a.createdAt - b.createdAt)
      : [...(distributions.get(distributionId) ?? [])];

  return {
    ...endpoint,
    addDistribution: (id) => {
      if (!distributions.has(id)) distributions.set(id, []);
    },
    invalidations: (distributionId) => selected(distributionId).map(view),
    purgedPaths: (distributionId) => selected(distributionId).flatMap((inv) => inv.paths),
    completeAll: () => {
      const t = now();
      for (const invs of distributions.values()) for (const inv of invs) inv.completesAt = Math.min(inv.completesAt, t);
    },
    clear: () => {
      for (const invs of distributions.values()) invs.length = 0;
    },
  };
}
