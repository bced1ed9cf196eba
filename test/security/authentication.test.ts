/**
 * Authentication through the REST front (API Gateway's authorizer step) and the real handlers:
 * forged, tampered, expired and malformed tokens are refused with 401 on every authenticated route,
 * and nothing of the tenant they name is read or written (no repository call, no Redis key of the
 * tenant: MONITOR on the server; the rate limiter's {rl:...} keys excepted).
 *
 * Through the stack under test of this project's mode, each attack is made against the stack's own
 * issuer: HS256 with the shared secret from source, RS256 from the deployment's identity provider
 * (its JWKS URL, issuer and audience from the template) as deployed. From source, production's
 * JWKS verification (RS256) also runs against a local JWKS server, switched on in this process.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { resetTokenVerifier } from '../../functions/auth/verify-token';
import { PERMISSIONS } from '../../functions/routes';
import { resetConfig } from '../../functions/shared/config';
import { tenantId } from '../api/api-fixtures';
import { startStackUnderTest, testMode, type CacheWatch, type StackUnderTest } from '../support/stack-under-test';
import { authenticatedRequests, expectContractError } from './security-fixtures';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function claimsFor(tenant: string, overrides: Record<string, unknown> = {}): JWTPayload {
  const t = now();
  const claims: Record<string, unknown> = {
    sub: `user-${tenant}`,
    tenantId: tenant,
    permissions: [...PERMISSIONS],
    iss: api.issuer.issuer,
    aud: api.issuer.audience,
    iat: t,
    exp: t + 600,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
}

interface Mode {
  readonly name: string;
  /** Signs exactly like a legitimate issuer of this mode would. */
  sign(claims: JWTPayload): Promise<string>;
  /** A PEM public key an attacker could know (the JWKS is public). */
  publicPem: string;
  kid: string;
  setUp(api: StackUnderTest): void;
  tearDown(api: StackUnderTest): void;
}

let api: StackUnderTest;
let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let attackerRsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let jwksServer: Server;
let jwksUrl: string;

beforeAll(async () => {
  api = await startStackUnderTest({ name: 'auth' });
  rsa = await generateKeyPair('RS256', { extractable: true });
  attackerRsa = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'prod-key-1', alg: 'RS256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  await api.stop();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

/** From source: the authorizer (in this process) reads the token settings again. */
function useVerifier(api: StackUnderTest): void {
  resetConfig();
  resetTokenVerifier();
  api.source?.stack.flushAuthorizerCache();
}

const MODES: [string, () => Promise<Mode>][] = [
  [
    testMode() === 'source' ? "the stack's own issuer (HS256 shared secret)" : "the stack's own issuer (RS256, the deployment's JWKS)",
    async () => ({
      name: api.issuer.name,
      sign: (claims) => api.issuer.sign(claims),
      // An HS256 stack has no public key: the confusion attack then uses the production-like one.
      publicPem: await exportSPKI(api.issuer.publicKey ?? rsa.publicKey),
      kid: api.issuer.kid ?? 'prod-key-1',
      setUp: () => undefined,
      tearDown: () => undefined,
    }),
  ],
];
// Production's JWKS verification switched on in the handlers' process: from source only.
if (testMode() === 'source') {
  MODES.push([
    'RS256 against a JWKS URL (production)',
    async () => ({
      name: 'RS256 against a JWKS URL (production)',
      sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'prod-key-1' }).sign(rsa.privateKey),
      publicPem: await exportSPKI(rsa.publicKey),
      kid: 'prod-key-1',
      setUp: (a) => {
        process.env.JWT_JWKS_URL = jwksUrl;
        useVerifier(a);
      },
      tearDown: (a) => {
        delete process.env.JWT_JWKS_URL;
        useVerifier(a);
      },
    }),
  ]);
}

type Attack = (
  tenant: string,
  mode: Mode,
) => { authorization: string; query?: string } | Promise<{ authorization: string; query?: string }>;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const ATTACKS: [string, Attack][] = [
  ['alg "none" with an empty signature', (t) => bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claimsFor(t))}.`)],
  ['alg "NoNe" with an empty signature', (t) => bearer(`${b64({ alg: 'NoNe', typ: 'JWT' })}.${b64(claimsFor(t))}.`)],
  [
    'alg "none" keeping a valid signature',
    async (t, mode) => {
      const [, payload, signature] = (await mode.sign(claimsFor(t))).split('.');
      return bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`);
    },
  ],
  [
    'HS256 signed with the RS256 public key (PEM) as the HMAC secret',
    async (t, mode) =>
      bearer(
        await new SignJWT(claimsFor(t))
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: mode.kid })
          .sign(new TextEncoder().encode(mode.publicPem)),
      ),
  ],
  [
    'RS256 signed by an attacker key pair, public key embedded in the header (jwk)',
    async (t) =>
      bearer(
        await new SignJWT(claimsFor(t))
          .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'prod-key-1', jwk: await exportJWK(attackerRsa.publicKey) })
          .sign(attackerRsa.privateKey),
      ),
  ],
  [
    'HS256 signed with another secret',
    async (t) => bearer(await new SignJWT(claimsFor(t)).setProtectedHeader({ alg: 'HS256' }).sign(randomBytes(48))),
  ],
  [
    'tampered payload (tenant swapped) with the original signature',
    async (t, mode) => {
      const [header, , signature] = (await mode.sign(claimsFor(tenantId('legit')))).split('.');
      return bearer(`${header}.${b64(claimsFor(t))}.${signature}`);
    },
  ],
  [
    'tampered payload (permissions added) with the original signature',
    async (t, mode) => {
      const [header, , signature] = (await mode.sign(claimsFor(t, { permissions: ['products:read'] }))).split('.');
      return bearer(`${header}.${b64(claimsFor(t))}.${signature}`);
    },
  ],
  [
    'expired 60 s ago (beyond the clock tolerance)',
    async (t, mode) => bearer(await mode.sign(claimsFor(t, { iat: now() - 3600, exp: now() - 60 }))),
  ],
  ['without exp', async (t, mode) => bearer(await mode.sign(claimsFor(t, { exp: undefined })))],
  ['not valid before an hour from now (nbf)', async (t, mode) => bearer(await mode.sign(claimsFor(t, { nbf: now() + 3600 })))],
  ['wrong issuer', async (t, mode) => bearer(await mode.sign(claimsFor(t, { iss: 'https://evil.example' })))],
  ['wrong audience', async (t, mode) => bearer(await mode.sign(claimsFor(t, { aud: 'another-api' })))],
  ['no tenantId', async (t, mode) => bearer(await mode.sign(claimsFor(t, { tenantId: undefined })))],
  ['tenantId that is not an id (key injection)', async (t, mode) => bearer(await mode.sign(claimsFor(t, { tenantId: `${t}}:*` })))],
  ['tenantId of the wrong type', async (t, mode) => bearer(await mode.sign(claimsFor(t, { tenantId: [t] })))],
  ['no sub', async (t, mode) => bearer(await mode.sign(claimsFor(t, { sub: undefined })))],
  ['malformed: one segment', (t) => bearer(b64(claimsFor(t)))],
  [
    'malformed: header is not JSON',
    async (t, mode) => bearer(`${b64('{nope')}.${(await mode.sign(claimsFor(t))).split('.').slice(1).join('.')}`),
  ],
  ['malformed: four segments', async (t, mode) => bearer(`${await mode.sign(claimsFor(t))}.extra`)],
  ['malformed: percent signs', (t) => bearer(`%%%.${b64(claimsFor(t))}.%%%`)],
  [
    '10 KB of garbage',
    (t) => {
      const garbage = Array.from(randomBytes(10 * 1024), (b) => String.fromCharCode(0x21 + (b % 94))).join('');
      return bearer(`${b64({ alg: 'HS256' })}.${b64(claimsFor(t))}.${garbage}`);
    },
  ],
  [
    '10 KB JWT-shaped token with a valid signature over it',
    async (t, mode) => bearer(await mode.sign(claimsFor(t, { pad: 'x'.repeat(10 * 1024) }))),
  ],
  ['Bearer with no token', () => ({ authorization: 'Bearer ' })],
  ['a valid token without the Bearer scheme', async (t, mode) => ({ authorization: await mode.sign(claimsFor(t)) })],
];

describe.each(MODES)('tokens, verified with %s', (_label, makeMode) => {
  let mode: Mode;
  let watch: CacheWatch;

  beforeAll(async () => {
    mode = await makeMode();
    mode.setUp(api);
    watch = await api.watchCache();
  });
  afterAll(() => {
    watch.stop();
    mode.tearDown(api);
  });

  it('accepts a token its issuer signed (control: the checks below can see reads and keys)', async () => {
    const tenant = tenantId('ok');
    const token = await mode.sign(claimsFor(tenant));
    const since = Date.now();
    const response = await api.call('GET', '/api/products/p1', { token });
    await expectContractError(response, 404);
    const list = await api.call('GET', '/api/products', { token });
    expect(list.status).toBe(200);
    await watch.settle();
    expect(api.dataCallsNaming(tenant, since).length).toBeGreaterThan(0);
    expect(watch.tenantLines(tenant).some((l) => l.includes(`{t:${tenant}}`))).toBe(true);
  });

  it.each(ATTACKS)('refuses %s with 401 on every authenticated route, reading and writing nothing', async (_name, attack) => {
    const tenant = tenantId('atk');
    const { authorization } = await attack(tenant, mode);
    const since = Date.now();
    for (const request of authenticatedRequests({ productId: 'p1', orderId: 'o1' })) {
      const response = await api.call(request.method, request.path, {
        headers: { Authorization: authorization },
        ...(request.body !== undefined ? { body: request.body } : {}),
      });
      await expectContractError(response, 401, `${request.method} ${request.path}`);
    }
    await watch.settle();
    expect(api.dataCallsNaming(tenant, since)).toEqual([]);
    expect(watch.tenantLines(tenant)).toEqual([]);
  });
});

describe('where the REST token may come from', () => {
  // The contract: REST requests carry "Authorization: Bearer <JWT>"; the token query parameter
  // is the WebSocket's (browsers cannot set headers there). A token in a REST URL ends up in
  // access logs and CDN logs.
  // Was a defect (functions/handlers/authorizer.ts fell back to ?token= on REST too), fixed in 642a45d.
  it('refuses a REST request whose only valid token is in the ?token= query parameter', async () => {
    const tenant = tenantId('qs');
    const token = await api.token(tenant);
    const created = await api.call('POST', '/api/products', { token, body: { id: 'p1', name: 'Lamp', price: 100, category: 'misc' } });
    expect(created.status).toBe(201);
    // A route that reads no query parameters (it answered 200 with the tenant's stock).
    const response = await api.call('GET', `/api/products/p1/stock?token=${token}`, { headers: { Authorization: 'Basic Zm9vOmJhcg==' } });
    await expectContractError(response, 401);
  });

  it('refuses a request without any Authorization header even when ?token= is valid', async () => {
    const token = await api.token(tenantId('qs'));
    const response = await api.call('GET', `/api/products?token=${token}`);
    await expectContractError(response, 401);
  });
});

describe("a token's exp, past the authorizer's cached verdict", () => {
  // API Gateway keeps an Allow for the authorizer's TTL (5 minutes) per token; the local front does too.
  it('refuses reads and writes once the token has expired, though its Allow is still cached', async () => {
    const tenant = tenantId('exp');
    // Enough life for a write and a read through the stack's containers on a loaded machine.
    const lifeSeconds = 5;
    const token = await api.mint({ tenantId: tenant, expiresInSeconds: lifeSeconds });
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number };
    const create = (id: string) => api.call('POST', '/api/products', { token, body: { id, name: 'Lamp', price: 100, category: 'misc' } });
    // While the token lives (the authorizer's Allow is cached from the first call on).
    expect((await create('before')).status).toBe(201);
    expect((await api.call('GET', '/api/products/before', { token })).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 50));
    await expectContractError(await api.call('GET', '/api/products/before', { token }), 401);
    await expectContractError(await create('after'), 401);
    await expectContractError(await api.call('GET', '/api/products/before/stock', { token }), 401);
    // Nothing was written past exp.
    expect((await api.call('GET', '/api/products/after', { token: await api.token(tenant) })).status).toBe(404);
  });
});
