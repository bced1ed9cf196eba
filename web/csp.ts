/**
 * The page's Content-Security-Policy, one definition for the local stack and the CDN: no inline
 * script or style, everything from the page's origin, plus the WebSocket endpoint.
 */
export function pageCsp(wsUrl: string): string {
  return [
    "default-src 'self'",
    `connect-src 'self' ${wsUrl}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
