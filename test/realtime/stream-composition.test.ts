/**
 * The FanOut consumer's services (functions/composition/streams.ts): built once per container from
 * the config and reused by every batch, so the CDN purger's pending purges outlive a batch; a build
 * that fails is not kept, and the next invocation builds again.
 */
import { CloudFrontPurger, noCdn } from '../../functions/cdn/cdn-purger';
import { forgetServices } from '../../functions/composition/provider';
import { fanOutServices } from '../../functions/composition/streams';
import { resetConfig } from '../../functions/shared/config';

const VARIABLES: readonly string[] = ['SHOP_TABLE_NAME', 'CONNECTIONS_TABLE_NAME', 'WS_MANAGEMENT_ENDPOINT', 'CDN_DISTRIBUTION_ID'];
const saved = { ...process.env };

function setEnvironment(values: Record<string, string>): void {
  process.env = Object.fromEntries(Object.entries(saved).filter(([name]) => !VARIABLES.includes(name)));
  Object.assign(process.env, values);
  resetConfig();
}

const complete = {
  SHOP_TABLE_NAME: 'shop-test',
  CONNECTIONS_TABLE_NAME: 'connections-test',
  WS_MANAGEMENT_ENDPOINT: 'https://ws.example.com/dev',
};

beforeEach(() => forgetServices());

afterAll(() => {
  process.env = { ...saved };
  resetConfig();
  forgetServices();
});

it('builds once per container: every batch gets the same fan-out and CDN purger', async () => {
  setEnvironment({ ...complete, CDN_DISTRIBUTION_ID: 'E1SHOPEDGE0001' });
  const first = await fanOutServices();
  expect(first.cdn).toBeInstanceOf(CloudFrontPurger);
  expect(await fanOutServices()).toBe(first);
});

it('purges nothing without a distribution', async () => {
  setEnvironment(complete);
  expect((await fanOutServices()).cdn).toBe(noCdn);
});

it('keeps no failed build: the next invocation builds again', async () => {
  const { WS_MANAGEMENT_ENDPOINT: _missing, ...withoutEndpoint } = complete;
  setEnvironment(withoutEndpoint);
  await expect(fanOutServices()).rejects.toThrow('WS_MANAGEMENT_ENDPOINT is required by the fan-out');

  setEnvironment(complete);
  const built = await fanOutServices();
  expect(built.fanOut).toBeDefined();
  expect(await fanOutServices()).toBe(built);
});
