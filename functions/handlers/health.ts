import { HttpError } from '../shared/errors';
import { restRoute } from '../http/rest-route';

type Part = 'ok' | 'down' | 'disabled';

async function probe(check: () => Promise<void>, timeoutMs: number): Promise<Part> {
  try {
    await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref())]);
    return 'ok';
  } catch {
    return 'down';
  }
}

export const handler = restRoute('Health', async ({ services }) => {
  const l2 = services.l2;
  const [redis, dynamodb] = await Promise.all([
    l2 ? probe(() => l2.ping(), 500) : Promise.resolve<Part>('disabled'),
    probe(() => services.repo.ping(), 1500),
  ]);
  const body = { status: redis === 'down' || dynamodb === 'down' ? 'degraded' : 'ok', redis, dynamodb };
  if (body.status !== 'ok') {
    const down = [redis === 'down' && 'redis', dynamodb === 'down' && 'dynamodb'].filter(Boolean).join(' and ');
    throw new HttpError(503, 'UNAVAILABLE', `${down} unavailable (redis: ${redis}, dynamodb: ${dynamodb})`, { 'Retry-After': '5' });
  }
  return { data: body };
});
