/** Server-to-client messages of the WebSocket contract (../shared/docs/contract.md). */
import type { DashboardFigures, Product } from '../catalog/model';
import type { Availability } from '../catalog/model';

export type ServerMessage =
  | { type: 'subscribed'; channel: string; snapshot: unknown }
  | { type: 'unsubscribed'; channel: string }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string; channel?: string }
  | { type: 'stock:update'; productId: string; stock: number; availability: Availability; version: number; timestamp: string }
  | { type: 'product:updated'; productId: string; product: Product | null; version: number; timestamp: string }
  | { type: 'order:update'; orderId: string; status: string; version: number; timestamp: string }
  | { type: 'dashboard:metric'; tenantId: string; metrics: DashboardFigures; timestamp: string }
  /** Sent instead of a message that would exceed API Gateway's 128 KB: fetch over REST. */
  | { type: 'refetch'; channel: string; reason: 'too-large' };

/**
 * The session is over: the server closes the connection after this error (API Gateway closes
 * with 1000; it cannot send a code of ours). Reconnect, with a fresh token for TOKEN_EXPIRED.
 */
export const TOKEN_EXPIRED: ServerMessage = {
  type: 'error',
  code: 'UNAUTHORIZED',
  message: 'token expired: reconnect with a fresh token',
};
export const SESSION_UNKNOWN: ServerMessage = { type: 'error', code: 'UNAUTHORIZED', message: 'connection unknown or expired; reconnect' };

/** An UNAUTHORIZED error ends the session: the server closes the connection after sending it. */
export function endsSession(message: ServerMessage | undefined): boolean {
  return message?.type === 'error' && message.code === 'UNAUTHORIZED';
}

/** A tenant's dashboard figures: the subscribe snapshot and the fan-out's push send the same message. */
export function dashboardMessage(tenantId: string, metrics: DashboardFigures): ServerMessage {
  return { type: 'dashboard:metric', tenantId, metrics, timestamp: new Date().toISOString() };
}
