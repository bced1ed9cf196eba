/**
 * The WebSocket routes' services: connections and sessions. These functions run outside the VPC
 * (they reply through the public management API), so their snapshots read through an L1-only
 * cache and nothing here imports Redis.
 */
import { CatalogService } from '../catalog/catalog-service';
import { RealtimeService } from '../realtime/realtime-service';
import { appConfig } from '../shared/config';
import { buildCache } from './cache';
import { connectionStore } from './connections';
import { provider } from './provider';
import { shopRepository } from './shop';

export const realtimeService = provider<RealtimeService>('realtime', async () => {
  const [connections, repo] = await Promise.all([connectionStore(), shopRepository()]);
  const app = appConfig();
  const catalog = new CatalogService(repo, buildCache(undefined), app);
  return new RealtimeService(connections, catalog, repo, {
    maxConnectionsPerUser: app.wsMaxConnectionsPerUser,
    maxConnectionsPerTenant: app.wsMaxConnectionsPerTenant,
  });
});
