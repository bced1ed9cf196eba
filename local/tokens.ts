/**
 * Dev tokens: HS256 JWTs (or signed with an identity provider's key) with the claims the authorizer reads (sub, tenantId, permissions) plus
 * iss, aud, iat and exp. Used by `npm run token`, `npm start` and the tests.
 */
import { SignJWT } from 'jose';
import { PERMISSIONS, type Permission } from '../functions/routes';
import { jwtSettings } from './dev-defaults';

export interface DevTokenOptions {
  readonly tenantId: string;
  /** @default every permission */
  readonly permissions?: readonly string[];
  /** The `sub` claim (user id). @default `dev-<tenantId>` */
  readonly userId?: string;
  /** @default 12 hours */
  readonly expiresInSeconds?: number;
  /** @default JWT_SECRET, else the documented dev secret */
  readonly secret?: string;
  /** @default JWT_ISSUER, else shop-edge-local */
  readonly issuer?: string;
  /** @default JWT_AUDIENCE, else shop-edge */
  readonly audience?: string;
  /** Extra claims (tests: a token without tenantId, odd claim types). */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
  /** Sign with this private key (an identity provider's, published in its JWKS) instead of the HS256 secret. */
  readonly signingKey?: { readonly key: CryptoKey; readonly alg: 'RS256' | 'ES256'; readonly kid: string };
}

export const ALL_PERMISSIONS: readonly Permission[] = PERMISSIONS;

export async function mintDevToken(options: DevTokenOptions): Promise<string> {
  const defaults = jwtSettings();
  const signing = options.signingKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    tenantId: options.tenantId,
    permissions: [...(options.permissions ?? ALL_PERMISSIONS)],
    ...options.extraClaims,
  })
    .setProtectedHeader(signing ? { alg: signing.alg, kid: signing.kid, typ: 'JWT' } : { alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userId ?? `dev-${options.tenantId}`)
    .setIssuer(options.issuer ?? defaults.issuer)
    .setAudience(options.audience ?? defaults.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 12 * 3600))
    .sign(signing ? signing.key : new TextEncoder().encode(options.secret ?? defaults.secret));
}
