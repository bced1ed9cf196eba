import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('GetOrder', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const { data, etag } = await catalog.getOrder(request.caller().tenantId, request.id('id'));
  return { data, etag };
});
