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
