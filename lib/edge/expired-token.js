/*
 * CloudFront Function (cloudfront-js-2.0), viewer request of the cached tenant routes
 * (/api/products*). A response cached for a token is served to whoever presents that exact token
 * until its s-maxage ends, without reaching the authorizer or the route: this function refuses,
 * before the cache lookup, a bearer token whose `exp` has passed, or whose payload has no usable
 * `exp`. It only decodes the payload; it does not verify the signature. The cache key is the
 * exact token, so a forged token with a future `exp` only misses the cache and meets the
 * authorizer at the origin. No Authorization header, or one without a bearer token, passes: the
 * authorizer answers it (401), and such an answer is never cached.
 *
 * A behaviour takes one viewer-request function, so this one also writes the viewer's address
 * for the public routes' per-client limit (the ViewerAddress function of the other behaviours).
 *
 * Written for the runtime, not for Node: no require, no Buffer, plain var/function. The settings
 * line below is replaced at synthesis (lib/edge/edge-functions.ts); the tests load the file the
 * same way.
 */
var SETTINGS = { viewerAddressHeader: '', allowedOrigins: [], exposeHeaders: '' };

var BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function handler(event) {
  var request = event.request;
  if (SETTINGS.viewerAddressHeader) {
    // Overwrites whatever the viewer sent in this header.
    request.headers[SETTINGS.viewerAddressHeader] = { value: event.viewer.ip };
  }
  var authorization = request.headers.authorization;
  var match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization.value) : null;
  if (match === null) return request;
  var exp = expiryOf(match[1]);
  if (exp === null) return refuse(request, 'Missing or invalid bearer token');
  // As the routes do (functions/http/middlewares.ts, callerOf): refused from the `exp` second on.
  if (Date.now() >= exp * 1000) return refuse(request, 'Token expired');
  return request;
}

/** The payload's `exp` (epoch seconds), or null when the token is not a JWT with a numeric exp. */
function expiryOf(token) {
  var parts = token.split('.');
  if (parts.length !== 3) return null;
  var text = base64UrlDecode(parts[1]);
  if (text === null) return null;
  var payload;
  try {
    payload = JSON.parse(text);
  } catch (e) {
    return null;
  }
  if (payload === null || typeof payload !== 'object') return null;
  var exp = payload.exp;
  return typeof exp === 'number' && isFinite(exp) ? exp : null;
}

/**
 * base64url (no padding) to a string of one character per byte. A UTF-8 payload decoded this way
 * is still valid JSON (bytes above 0x7f only ever appear inside strings), and `exp` is ASCII.
 */
function base64UrlDecode(input) {
  if (input.length === 0 || input.length % 4 === 1) return null;
  var out = '';
  var buffer = 0;
  var bits = 0;
  for (var i = 0; i < input.length; i++) {
    var sextet = BASE64URL.indexOf(input.charAt(i));
    if (sextet < 0) return null;
    buffer = (buffer << 6) | sextet;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}

/** The contract's 401, never stored, with the CORS headers a listed origin gets on any answer. */
function refuse(request, message) {
  var headers = {
    'content-type': { value: 'application/json' },
    'cache-control': { value: 'no-store' },
    vary: { value: 'Origin' },
  };
  var origin = request.headers.origin;
  if (origin && SETTINGS.allowedOrigins.indexOf(origin.value) >= 0) {
    headers['access-control-allow-origin'] = { value: origin.value };
    headers['access-control-expose-headers'] = { value: SETTINGS.exposeHeaders };
  }
  return {
    statusCode: 401,
    statusDescription: 'Unauthorized',
    headers: headers,
    body: { encoding: 'text', data: JSON.stringify({ error: { code: 'UNAUTHORIZED', message: message } }) },
  };
}
