/**
 * The FanOut stream consumer's services, built from validated config once per container and
 * reused by every batch: the connection store, the Shop repository, the WebSocket notifier and the
 * CDN purger (whose pending purges must outlive a batch). A build that fails (a missing
 * WS_MANAGEMENT_ENDPOINT, say) is not kept: the next invocation builds again.
 */
import { CloudFrontPurger, noCdn } from '../cdn/cdn-purger';
import { notifierFor } from '../realtime/notifier';
import { appConfig } from '../shared/config';
import type { FanOutServices } from '../streams/consumers';
import { FanOut } from '../streams/fan-out';
import { connectionStore } from './connections';
import { provider } from './provider';
import { shopRepository } from './shop';

export const fanOutServices = provider<FanOutServices>('fanOut', async () => {
  const app = appConfig();
  const endpoint = app.wsManagementEndpoint;
  if (!endpoint) throw new Error('WS_MANAGEMENT_ENDPOINT is required by the fan-out');
  const [connections, repo] = await Promise.all([connectionStore(), shopRepository()]);
  const fanOut = new FanOut({ connections, repo, notifier: notifierFor(endpoint) });
  return { fanOut, cdn: app.cdnDistributionId ? CloudFrontPurger.create(app.cdnDistributionId) : noCdn };
});
