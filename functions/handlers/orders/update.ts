import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('UpdateOrder', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const order = await catalog.updateOrderStatus(request.caller().tenantId, request.id('id'), request.body.status);
  return { data: order };
});
