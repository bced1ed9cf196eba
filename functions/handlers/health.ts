import { l2Store } from '../composition/redis';
import { shopRepository } from '../composition/shop';
import { restRoute } from '../http/rest-route';
import { HttpError } from '../shared/errors';

type Part = 'ok' | 'down' | 'disabled';

/** How long a connected Redis may take to answer PING before it counts as down. */
const REDIS_PING_BUDGET_MS = 500;
/** DynamoDB's GetItem, the client's connect (TLS) included. */
const DYNAMODB_PROBE_BUDGET_MS = 1500;

async function probe(check: () => Promise<void>, timeoutMs: number): Promise<Part> {
  try {
    await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref())]);
    return 'ok';
  } catch {
    return 'down';
  }
}

export const handler = restRoute('Health', { services: { l2: l2Store, repo: shopRepository } }, async (_request, { l2, repo }) => {
  const [redis, dynamodb] = await Promise.all([
    // A cold container connects first (TCP, TLS, AUTH): that wait is bounded by the connect
    // timeout, and only the PING on the connection counts against the probe's budget.
    l2 ? l2.ready().then(() => probe(() => l2.ping(), REDIS_PING_BUDGET_MS)) : Promise.resolve<Part>('disabled'),
    probe(() => repo.ping(), DYNAMODB_PROBE_BUDGET_MS),
  ]);
  const body = { status: redis === 'down' || dynamodb === 'down' ? 'degraded' : 'ok', redis, dynamodb };
  if (body.status !== 'ok') {
    const down = [redis === 'down' && 'redis', dynamodb === 'down' && 'dynamodb'].filter(Boolean).join(' and ');
    throw new HttpError(503, 'UNAVAILABLE', `${down} unavailable (redis: ${redis}, dynamodb: ${dynamodb})`, { 'Retry-After': '5' });
  }
  return { data: body };
});
