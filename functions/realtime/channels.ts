/** WebSocket channels: `product:<id>`, `order:<id>`, `dashboard` (the caller's tenant). */
import type { Permission } from '../routes';
import { isValidId } from '../shared/ids';

export type Channel =
  | { readonly kind: 'product'; readonly id: string; readonly name: string }
  | { readonly kind: 'order'; readonly id: string; readonly name: string }
  | { readonly kind: 'dashboard'; readonly name: 'dashboard' };

export function parseChannel(value: unknown): Channel | undefined {
  if (typeof value !== 'string' || value.length > 80) return undefined;
  if (value === 'dashboard') return { kind: 'dashboard', name: 'dashboard' };
  const separator = value.indexOf(':');
  const kind = value.slice(0, separator);
  const id = value.slice(separator + 1);
  if ((kind === 'product' || kind === 'order') && isValidId(id)) return { kind, id, name: `${kind}:${id}` };
  return undefined;
}

export const CHANNEL_PERMISSION: Readonly<Record<Channel['kind'], Permission>> = {
  product: 'products:read',
  order: 'orders:read',
  dashboard: 'dashboard:read',
};

export const channelNames = {
  product: (id: string) => `product:${id}`,
  order: (id: string) => `order:${id}`,
  dashboard: 'dashboard',
} as const;
