/**
 * Per-client request limits, as an AWS WAF rate-based rule keyed on the source IP applies them:
 * every request of a client to the methods of one limit counts (refused ones too), and past the
 * limit within a window the client is refused until the window ends. A client's window starts
 * with its first request. Bounded: at most `maxClients` clients per limit are tracked; past that,
 * the one tracked longest is forgotten.
 */
import type { ClientLimitDefinition, InspectedRequest } from './rest-api';

export interface ClientLimitVerdict {
  readonly allowed: boolean;
  /** Seconds until the client's window ends (at least 1). */
  readonly retryAfterSeconds: number;
}

interface Window {
  readonly start: number;
  count: number;
}

export interface ClientLimitRefusal {
  readonly limit: ClientLimitDefinition;
  readonly retryAfterSeconds: number;
}

export class ClientLimiter {
  private readonly limits = new Map<string, Map<string, Window>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxClients = 10_000,
  ) {}

  /**
   * Counts the request under each limit it is in scope of, in order, as WAF evaluates a web ACL's
   * rules: the first limit that refuses it answers, and later ones do not see it.
   */
  check(limits: readonly ClientLimitDefinition[], request: InspectedRequest): ClientLimitRefusal | undefined {
    for (const limit of limits) {
      if (limit.counts !== undefined && !limit.counts(request)) continue;
      const client = limit.clientOf === undefined ? request.sourceIp : limit.clientOf(request);
      if (client === undefined) continue;
      if (client === null) return { limit, retryAfterSeconds: limit.windowSeconds };
      const verdict = this.take(limit, client);
      if (!verdict.allowed) return { limit, retryAfterSeconds: verdict.retryAfterSeconds };
    }
    return undefined;
  }

  take(limit: ClientLimitDefinition, client: string): ClientLimitVerdict {
    const at = this.now();
    const windowMs = limit.windowSeconds * 1000;
    let clients = this.limits.get(limit.name);
    if (clients === undefined) {
      clients = new Map();
      this.limits.set(limit.name, clients);
    }
    let window = clients.get(client);
    if (window === undefined || at >= window.start + windowMs) {
      clients.delete(client);
      window = { start: at, count: 0 };
      clients.set(client, window);
      if (clients.size > this.maxClients) clients.delete(clients.keys().next().value as string);
    }
    window.count += 1;
    return {
      allowed: window.count <= limit.requests,
      retryAfterSeconds: Math.max(1, Math.ceil((window.start + windowMs - at) / 1000)),
    };
  }
}
