/**
 * JWT verification: HS256 with a shared secret (local stack, tests) or RS256/ES256 against a
 * JWKS URL (production). Issuer, audience and expiry are checked; `alg: none` never verifies.
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { PERMISSIONS, type Permission } from '../shared/permissions';
import { authConfig } from '../shared/config';
import { isValidId } from '../shared/ids';

export interface Identity {
  readonly userId: string;
  readonly tenantId: string;
  readonly permissions: readonly Permission[];
  /** The token's `exp` (epoch seconds): a WebSocket session ends then. */
  readonly expiresAt: number;
}

export class InvalidTokenError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;

let verifier: ((token: string) => Promise<Identity>) | undefined;

export function tokenVerifier(): (token: string) => Promise<Identity> {
  if (verifier) return verifier;
  const config = authConfig();
  const key: Uint8Array | JWTVerifyGetKey = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 30_000, cacheMaxAge: 600_000 })
    : new TextEncoder().encode(config.secret);
  const algorithms = config.jwksUrl ? ['RS256', 'ES256'] : ['HS256'];
  verifier = async (token) => {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token missing or too long');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        issuer: config.issuer,
        audience: config.audience,
        clockTolerance: config.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw new InvalidTokenError((error as Error).message);
    }
    const { sub, tenantId, permissions, exp } = payload as { sub?: unknown; tenantId?: unknown; permissions?: unknown; exp?: unknown };
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) throw new InvalidTokenError('sub missing');
    if (!isValidId(tenantId)) throw new InvalidTokenError('tenantId missing or malformed');
    const granted = Array.isArray(permissions)
      ? permissions.filter((p): p is Permission => (PERMISSIONS as readonly unknown[]).includes(p))
      : [];
    // jose checked exp (required claim, a number).
    return { userId: sub, tenantId, permissions: granted, expiresAt: Math.floor(Number(exp)) };
  };
  return verifier;
}

export function resetTokenVerifier(): void {
  verifier = undefined;
}

/** "Bearer <token>" (scheme case-insensitive) → token. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
