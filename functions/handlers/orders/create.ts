import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('CreateOrder', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const { tenantId, userId } = request.caller();
  const order = await catalog.createOrder(tenantId, userId, request.body);
  return { status: 201, data: order, headers: { Location: `/api/orders/${order.id}` } };
});
