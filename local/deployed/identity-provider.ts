/**
 * The identity provider a deployment trusts, played locally: the template gives the authorizer a
 * JWKS URL, issuer and audience (JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE); this serves a JWKS with
 * one fresh RS256 key at that URL's path, over HTTPS, and mints dev tokens signed with it. The
 * functions' network routes the URL's host here.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { mintDevToken, type DevTokenOptions } from '../tokens';
import type { LocalCertificates } from './certificates';
import type { Route } from './network';

export interface LocalIdentityProvider {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly routes: readonly Route[];
  /** The key id of the signing key, as the JWKS publishes it. */
  readonly kid: string;
  /** The public half of the signing key (what the JWKS publishes). */
  readonly publicKey: CryptoKey;
  /** Any claims, signed as this provider signs (RS256, its kid): tests forge expired, foreign or odd tokens with it. */
  signClaims(claims: JWTPayload): Promise<string>;
  /** A token this provider signed, with the deployment's issuer and audience. */
  mint(options: Omit<DevTokenOptions, 'secret' | 'issuer' | 'audience' | 'signingKey'>): Promise<string>;
  stop(): Promise<void>;
}

export async function startLocalIdentityProvider(settings: {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly certificates: LocalCertificates;
}): Promise<LocalIdentityProvider> {
  const url = new URL(settings.jwksUrl);
  if (url.protocol !== 'https:') throw new Error(`JWT_JWKS_URL ${settings.jwksUrl}: only https is supported`);
  const kid = `local-${Date.now().toString(36)}`;
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] });
  const server: Server = createServer({ cert: settings.certificates.cert, key: settings.certificates.key }, (req, res) => {
    if (req.method === 'GET' && new URL(req.url ?? '/', settings.jwksUrl).pathname === url.pathname) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=600' });
      res.end(jwks);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"message":"Not Found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    jwksUrl: settings.jwksUrl,
    issuer: settings.issuer,
    audience: settings.audience,
    routes: [{ host: url.hostname, port: Number(url.port || 443), to: { host: '127.0.0.1', port } }],
    kid,
    publicKey,
    signClaims: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey),
    mint: (options) =>
      mintDevToken({
        ...options,
        issuer: settings.issuer,
        audience: settings.audience,
        signingKey: { key: privateKey, alg: 'RS256', kid },
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
