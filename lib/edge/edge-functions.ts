/**
 * The code of the expired-token CloudFront Function (expired-token.js), with its settings written
 * in: the file stays plain runtime JavaScript that the tests load exactly as it is deployed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CORS_EXPOSE_HEADERS } from '../../functions/shared/cors';

export const EXPIRED_TOKEN_SOURCE = path.join(__dirname, 'expired-token.js');

export interface ExpiredTokenSettings {
  /** Header the function writes the viewer's address into (the public routes' limit). @default none */
  readonly viewerAddressHeader?: string;
  /** Origins whose requests get the CORS headers on the function's 401 (exact values). */
  readonly allowedOrigins: readonly string[];
}

const SETTINGS_LINE = /^var SETTINGS = .*;$/m;

export function expiredTokenFunctionCode(settings: ExpiredTokenSettings): string {
  const source = fs.readFileSync(EXPIRED_TOKEN_SOURCE, 'utf8');
  if (!SETTINGS_LINE.test(source)) throw new Error(`${EXPIRED_TOKEN_SOURCE} has no "var SETTINGS = ...;" line to write the settings into`);
  const rendered = {
    viewerAddressHeader: settings.viewerAddressHeader ?? '',
    allowedOrigins: [...settings.allowedOrigins],
    exposeHeaders: CORS_EXPOSE_HEADERS.join(', '),
  };
  // A function replacement, so `$` in a value is never read as a replacement pattern.
  return source.replace(SETTINGS_LINE, () => `var SETTINGS = ${JSON.stringify(rendered)};`);
}
