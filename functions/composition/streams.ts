/**
 * The FanOut stream consumer's services, built from validated config once per container and
 * reused by every batch: the connection store, the Shop repository, the WebSocket notifier and the
 * CDN purger (whose pending purges must outlive a batch). A build that fails (a missing
 * WS_MANAGEMENT_ENDPOINT, say) is not kept: the next invocation builds again.
 */
import { CloudFrontPurger, noCdn } from '../cdn/cdn-purger';
import { DynamoShopRepository } from '../catalog/shop-repository';
import { ConnectionStore } from '../realtime/connection-store';
import { notifierFor } from '../realtime/notifier';
import { sharedDocumentClient } from '../shared/clients/dynamodb';
import { appConfig, tablesConfig } from '../shared/config';
import type { FanOutServices } from '../streams/consumers';
import { FanOut } from '../streams/fan-out';

function build(): FanOutServices {
  const app = appConfig();
  const endpoint = app.wsManagementEndpoint;
  if (!endpoint) throw new Error('WS_MANAGEMENT_ENDPOINT is required by the fan-out');
  const tables = tablesConfig();
  const fanOut = new FanOut({
    connections: new ConnectionStore(sharedDocumentClient(), tables.connectionsTableName),
    repo: new DynamoShopRepository(sharedDocumentClient(), tables.shopTableName),
    notifier: notifierFor(endpoint),
  });
  return { fanOut, cdn: app.cdnDistributionId ? CloudFrontPurger.create(app.cdnDistributionId) : noCdn };
}

let services: FanOutServices | undefined;

/** The container's fan-out services; throws (and keeps nothing) while the config is incomplete. */
export function fanOutServices(): FanOutServices {
  services ??= build();
  return services;
}

/** Drops the container's fan-out services (tests that change the environment between cases). */
export function resetFanOutServices(): void {
  services = undefined;
}
