/** The permissions a token can carry (its `permissions` claim); each REST route and channel names the one it needs. */
export const PERMISSIONS = ['products:read', 'products:write', 'stock:write', 'orders:read', 'orders:write', 'dashboard:read'] as const;
export type Permission = (typeof PERMISSIONS)[number];
