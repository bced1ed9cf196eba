/**
 * SigV4 on the receiving side: read the caller's access key from the Authorization header and
 * check the signature by signing the received request again with @smithy/signature-v4 (the
 * signer the SDK clients use) and the secret of that key. Only header-signed requests are
 * accepted (presigned query strings are not what SDK clients send).
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';

type Hmac = ReturnType<typeof createHmac>;
import type { IncomingHttpHeaders } from 'node:http';

/** A request as it arrived: the raw path and query, the headers, the body bytes. */
export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received (`/path?query`), still percent-encoded. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
}

export interface SigV4Authorization {
  readonly accessKeyId: string;
  /** YYYYMMDD of the credential scope */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** x-amz-date, YYYYMMDDTHHMMSSZ */
  readonly amzDate: string;
}

/** Why a request is refused before any policy is looked at; each service words it in its own error. */
export type AuthenticationFailureKind =
  /** No Authorization header (MissingAuthenticationToken). */
  | 'missing'
  /** An Authorization header that is not a complete SigV4 one (IncompleteSignature). */
  | 'incomplete'
  /** An access key (or session token) no principal was registered with (UnrecognizedClient / InvalidClientTokenId). */
  | 'unknown-key'
  /** Wrong signature, wrong scope or a date too far from now (InvalidSignature / SignatureDoesNotMatch). */
  | 'invalid-signature';

export interface AuthenticationFailure {
  readonly kind: AuthenticationFailureKind;
  readonly message: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid.';
export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(headers: IncomingHttpHeaders): SigV4Authorization | AuthenticationFailure {
  const value = header(headers, 'authorization');
  if (value === undefined || value.trim() === '') return { kind: 'missing', message: 'Request is missing Authentication Token' };
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return { kind: 'incomplete', message: `Unsupported AWS 'algorithm': '${algorithm}'. Authorization=${value}` };
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const problems: string[] = [];
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const amzDate = header(headers, 'x-amz-date');
  if (credential === undefined || credential === '') problems.push("Authorization header requires 'Credential' parameter.");
  if (signature === undefined || signature === '') problems.push("Authorization header requires 'Signature' parameter.");
  if (signedHeaders === undefined || signedHeaders === '') problems.push("Authorization header requires 'SignedHeaders' parameter.");
  if (amzDate === undefined) problems.push("Authorization header requires existence of a 'X-Amz-Date' header.");
  if (credential === undefined || signature === undefined || signedHeaders === undefined || amzDate === undefined || problems.length > 0) {
    return { kind: 'incomplete', message: `${problems.join(' ')} Authorization=${value}` };
  }
  const scope = credential.split('/');
  const [accessKeyId, scopeDate, region, service, terminator] = scope;
  if (
    scope.length !== 5 ||
    accessKeyId === undefined ||
    accessKeyId === '' ||
    scopeDate === undefined ||
    region === undefined ||
    service === undefined ||
    terminator !== 'aws4_request'
  ) {
    return {
      kind: 'incomplete',
      message: `Credential should be scoped to a valid region, e.g. keyid/date/region/service/aws4_request, got '${credential}'.`,
    };
  }
  if (!AMZ_DATE.test(amzDate)) {
    return { kind: 'incomplete', message: `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.` };
  }
  return { accessKeyId, scopeDate, region, service, signedHeaders: signedHeaders.split(';'), signature, amzDate };
}

export function isAuthenticationFailure(value: SigV4Authorization | AuthenticationFailure): value is AuthenticationFailure {
  return 'kind' in value;
}

function parseAmzDate(amzDate: string): Date {
  const m = AMZ_DATE.exec(amzDate) as RegExpExecArray;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape @smithy/signature-v4 takes. */
export class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = NodeSha256.create(secret);
  }
  private static create(secret?: string | ArrayBuffer | ArrayBufferView): Hash | Hmac {
    if (secret === undefined) return createHash('sha256');
    const key =
      typeof secret === 'string'
        ? secret
        : ArrayBuffer.isView(secret)
          ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
          : Buffer.from(secret);
    return createHmac('sha256', key);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = NodeSha256.create(this.secret);
  }
}

function parseQuery(query: string): Record<string, string | string[]> | undefined {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  try {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
      const existing = out[name];
      if (existing === undefined) out[name] = value;
      else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
  } catch {
    return undefined;
  }
  return out;
}

export interface VerifyOptions {
  readonly secretAccessKey: string;
  /** The service the endpoint is (credential scope), e.g. `dynamodb`. */
  readonly service: string;
  /** The region the endpoint is in; undefined accepts any. */
  readonly region: string | undefined;
  readonly now: number;
  readonly maxClockSkewMs: number;
}

/** Checks the signature by recomputing it over the received request; undefined when it matches. */
export async function verifySignature(
  request: ReceivedRequest,
  auth: SigV4Authorization,
  options: VerifyOptions,
): Promise<AuthenticationFailure | undefined> {
  if (auth.service !== options.service) {
    return { kind: 'invalid-signature', message: `Credential should be scoped to correct service: '${options.service}'. ` };
  }
  if (options.region !== undefined && auth.region !== options.region) {
    return { kind: 'invalid-signature', message: `Credential should be scoped to a valid region. ` };
  }
  if (!auth.amzDate.startsWith(auth.scopeDate)) {
    return {
      kind: 'invalid-signature',
      message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.scopeDate}' != '${auth.amzDate.slice(0, 8)}', from '${auth.amzDate}'.`,
    };
  }
  const signingDate = parseAmzDate(auth.amzDate);
  const skew = signingDate.getTime() - options.now;
  if (Math.abs(skew) > options.maxClockSkewMs) {
    const minutes = Math.round(options.maxClockSkewMs / 60_000);
    const message =
      skew < 0
        ? `Signature expired: ${auth.amzDate} is now earlier than ${formatAmzDate(options.now - options.maxClockSkewMs)} (${formatAmzDate(options.now)} - ${String(minutes)} min.)`
        : `Signature not yet current: ${auth.amzDate} is still later than ${formatAmzDate(options.now + options.maxClockSkewMs)} (${formatAmzDate(options.now)} + ${String(minutes)} min.)`;
    return { kind: 'invalid-signature', message };
  }

  // A signed payload hash stands for the body in the signature: it must be the body's.
  const declaredHash = header(request.headers, 'x-amz-content-sha256');
  if (declaredHash !== undefined && /^[0-9a-f]{64}$/.test(declaredHash)) {
    if (createHash('sha256').update(request.body).digest('hex') !== declaredHash) {
      return { kind: 'invalid-signature', message: "The provided 'x-amz-content-sha256' header does not match what was computed." };
    }
  }

  // Only the headers the caller signed take part, as they arrived.
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = header(request.headers, name);
    if (value === undefined) return { kind: 'invalid-signature', message: SIGNATURE_MISMATCH_MESSAGE };
    headers[name] = value;
  }
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const query = parseQuery(q < 0 ? '' : request.url.slice(q + 1));
  if (query === undefined) return { kind: 'invalid-signature', message: SIGNATURE_MISMATCH_MESSAGE };

  const signer = new SignatureV4({
    credentials: {
      accessKeyId: auth.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: auth.signedHeaders.includes('x-amz-security-token') ? headers['x-amz-security-token'] : undefined,
    },
    region: auth.region,
    service: auth.service,
    sha256: NodeSha256,
    // S3 is the one service that signs the path as is; every service here escapes it again.
    uriEscapePath: true,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: request.method, protocol: 'http:', hostname: 'localhost', path, query, headers, body: request.body },
    { signingDate, signableHeaders: new Set(auth.signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization))?.[1] ?? '';
  const given = Buffer.from(auth.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
    return { kind: 'invalid-signature', message: SIGNATURE_MISMATCH_MESSAGE };
  }
  return undefined;
}
