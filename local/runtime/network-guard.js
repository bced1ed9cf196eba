'use strict';
/**
 * The network of a deployed function, preloaded (`node --require`) into every container.
 *
 * Every TCP connection of Node goes through `net.Socket.prototype.connect`: net.connect,
 * tls.connect, http(s) agents, http2 and the fetch of Node 24 (its undici calls net.connect /
 * tls.connect). A destination the function's network does not reach is black-holed the way a
 * dropped SYN is: the socket stays `connecting` and never emits `connect` nor an error, until the
 * client's own connect timeout destroys it (ioredis `connectTimeout`, the AWS SDK's
 * `connectionTimeout`, `socket.setTimeout`, an AbortSignal). Never an immediate ECONNREFUSED.
 * The check is on the destination as the caller names it, before any DNS lookup: a VPC without a
 * NAT resolves public names but cannot connect to them.
 *
 * Configuration: the policy as JSON in _SHOP_EDGE_NETWORK_POLICY, removed from process.env here,
 * before the runtime loads the handler, so the function sees exactly its own environment.
 *   { "allow": "any" | [{ "host": "127.0.0.1", "port": 6379 }, ...], "blackhole": [{ "host"?, "port"? }, ...] }
 * A connection proceeds when it matches `allow` ("any", or an entry) and no `blackhole` entry; an
 * entry without host or port matches any. Hosts compare case-insensitively, as written: the
 * policy names destinations the way the function's configuration does (127.0.0.1 is not localhost).
 * Unix-domain sockets (a `path`) are not network destinations and always proceed.
 * `routes` (`[{ "host", "port"?, "to": { "host", "port" } }]`) are what DNS and routing make of a
 * name: a connection to a routed host goes to `to` and is allowed. Only the socket's destination
 * changes: tls.connect has already taken the name it verifies the certificate against.
 */

const CONFIG_VARIABLE = '_SHOP_EDGE_NETWORK_POLICY';

const raw = process.env[CONFIG_VARIABLE];
delete process.env[CONFIG_VARIABLE];
if (raw !== undefined) install(JSON.parse(raw));

function install(policy) {
  const net = require('node:net');
  const realConnect = net.Socket.prototype.connect;
  // Captured now: the handler's code must not be able to silence the report.
  const report = typeof process.send === 'function' ? process.send.bind(process) : undefined;
  const reported = new Set();

  net.Socket.prototype.connect = function connect(...args) {
    const { options, callback } = connectArguments(args);
    if (options.path === undefined || options.path === null) {
      const host = normalizeHost(options.host === undefined || options.host === null ? 'localhost' : String(options.host));
      const port = Number(options.port);
      const route = (policy.routes || []).find((r) => normalizeHost(r.host) === host && (r.port === undefined || r.port === port));
      if (route !== undefined) return realConnect.apply(this, redirected(args, options, callback, route.to));
      if (!reaches(policy, host, port)) {
        const destination = `${host}:${port}`;
        // One report per destination and container: enough to explain a timeout in the logs.
        if (report !== undefined && !reported.has(destination)) {
          reported.add(destination);
          try {
            report({ type: 'blackholed', host, port });
          } catch {
            // The channel is gone: the container is being torn down.
          }
        }
        return blackhole(this, callback);
      }
    }
    return realConnect.apply(this, args);
  };
}

function reaches(policy, host, port) {
  const allowed = policy.allow === 'any' || policy.allow.some((entry) => matches(entry, host, port));
  return allowed && !(policy.blackhole || []).some((entry) => matches(entry, host, port));
}

function matches(entry, host, port) {
  return (entry.host === undefined || normalizeHost(entry.host) === host) && (entry.port === undefined || entry.port === port);
}

function normalizeHost(host) {
  const lower = host.toLowerCase();
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/** socket.connect(options[, cb]), (port[, host][, cb]), (path[, cb]), or net.connect's normalized [options, cb]. */
function connectArguments(args) {
  if (Array.isArray(args[0])) return { options: args[0][0] || {}, callback: args[0][1] };
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  const first = args[0];
  if (first !== null && typeof first === 'object') return { options: first, callback };
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { options: { path: first }, callback };
  return { options: { port: first, host: typeof args[1] === 'string' ? args[1] : undefined }, callback };
}

/** The same connect call, to another host and port. */
function redirected(args, options, callback, to) {
  const moved = { ...options, host: to.host, port: to.port };
  if (Array.isArray(args[0])) return [[moved, args[0][1]]];
  return callback === undefined ? [moved] : [moved, callback];
}

/** The state a socket is in while its SYN goes unanswered: connecting, writes queued, no events. */
function blackhole(socket, callback) {
  if (typeof callback === 'function') socket.once('connect', callback);
  socket.connecting = true;
  return socket;
}
