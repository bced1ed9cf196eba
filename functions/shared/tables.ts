/**
 * DynamoDB table definitions: the single source for the CDK data stack, DynamoDB Local in tests
 * and the local stack. Imports nothing from aws-cdk-lib so function bundles stay small.
 *
 * Shop table (single-table design, one stream for every committed change):
 *   pk = T#<tenantId>
 *   sk = P#<productId>   product (soft delete sets deletedAt; removes GSI keys)
 *        S#<productId>   stock: stock, version, lowStockThreshold, lastUpdated
 *        O#<orderId>     order: lines, status, total, version
 *        M#<yyyy-mm-dd>  dashboard figures of that day: ordersToday, revenueToday, lowStockCount
 *   gsi1 (category):    gsi1pk = T#<tenantId>#C#<category>, gsi1sk = P#<productId>   (live products)
 *   gsi2 (marketplace): gsi2pk = MARKETPLACE, gsi2sk = <tenantId>#<productId>        (listed, live)
 *
 * Connections table (WebSocket):
 *   pk = C#<connectionId>, sk = META                  connection: tenantId, userId, permissions, tokenExpiresAt,
 *                                                      expiresAt; closedAt once $disconnect ran (a tombstone);
 *                                                      counted = <bucket name> once its tenant counts it, and
 *                                                      then (until closedAt) gsi1pk = <tenantId>#$connections,
 *                                                      gsi1sk = <connectionId> (a channel name has no `$`)
 *   pk = C#<connectionId>, sk = SUB#<channel>          subscription: state on|off, seq (the order of the message
 *                                                      that set it); when on, gsi1pk = <tenantId>#<channel>,
 *                                                      gsi1sk = <connectionId>
 *   pk = U#<tenantId>#<user hash>, sk = SLOTS          a user's open connections: slots = {connectionId: end}
 *   pk = T#<tenantId>, sk = CONNECTIONS                 a tenant's counted connections: open (their number),
 *                                                      b<minute> (how many of them end in that minute: their
 *                                                      connectedAt + 2 hours), reclaimAt (the lease of the
 *                                                      last reclaim, epoch ms), reclaimFrom (where it stopped)
 *   expiresAt: epoch SECONDS (DynamoDB TTL)
 */

export type KeyType = 'S' | 'N';

export interface AttributeDefinition {
  readonly name: string;
  readonly type: KeyType;
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: AttributeDefinition;
  readonly sortKey?: AttributeDefinition;
}

export interface TableDefinition {
  /** Logical name; the physical name comes from config (env var) so stacks and tests can differ. */
  readonly logicalName: string;
  /** Environment variable the functions read the physical table name from. */
  readonly tableNameEnv: string;
  readonly partitionKey: AttributeDefinition;
  readonly sortKey?: AttributeDefinition;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  /** NEW_AND_OLD_IMAGES when the table feeds stream consumers. */
  readonly stream?: 'NEW_AND_OLD_IMAGES';
  /** Attribute holding an expiry in epoch seconds. */
  readonly timeToLiveAttribute?: string;
}

export const SHOP_TABLE: TableDefinition = {
  logicalName: 'Shop',
  tableNameEnv: 'SHOP_TABLE_NAME',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
    },
    {
      indexName: 'gsi2',
      partitionKey: { name: 'gsi2pk', type: 'S' },
      sortKey: { name: 'gsi2sk', type: 'S' },
    },
  ],
  stream: 'NEW_AND_OLD_IMAGES',
};

export const CONNECTIONS_TABLE: TableDefinition = {
  logicalName: 'Connections',
  tableNameEnv: 'CONNECTIONS_TABLE_NAME',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
    },
  ],
  timeToLiveAttribute: 'expiresAt',
};

export const TABLES = { shop: SHOP_TABLE, connections: CONNECTIONS_TABLE } as const;
export type TableKey = keyof typeof TABLES;

/** Key builders: the only place key strings are assembled. Callers pass validated ids. */
export const shopKeys = {
  tenant: (tenantId: string) => `T#${tenantId}`,
  product: (productId: string) => `P#${productId}`,
  stock: (productId: string) => `S#${productId}`,
  order: (orderId: string) => `O#${orderId}`,
  metrics: (day: string) => `M#${day}`,
  category: (tenantId: string, category: string) => `T#${tenantId}#C#${category}`,
  marketplacePartition: 'MARKETPLACE',
  marketplaceSort: (tenantId: string, productId: string) => `${tenantId}#${productId}`,
} as const;

export const connectionKeys = {
  connection: (connectionId: string) => `C#${connectionId}`,
  meta: 'META',
  subscription: (channel: string) => `SUB#${channel}`,
  subscriptionPrefix: 'SUB#',
  /** userKey: a hash of the user id (a `sub` is not an id: up to 256 characters of anything). */
  user: (tenantId: string, userKey: string) => `U#${tenantId}#${userKey}`,
  slots: 'SLOTS',
  channel: (tenantId: string, channel: string) => `${tenantId}#${channel}`,
  /** The counter of a tenant's open connections (one item: every connect of the tenant writes it). */
  tenant: (tenantId: string) => `T#${tenantId}`,
  tenantConnections: 'CONNECTIONS',
  /** gsi1pk of a tenant's counted connections: `$` is in no channel name (channels.ts), so no channel's subscribers query meets it. */
  tenantConnectionIndex: (tenantId: string) => `${tenantId}#$connections`,
} as const;
