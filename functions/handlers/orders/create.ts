import { createOrderSchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('CreateOrder', async (request) => {
  const input = request.body(createOrderSchema);
  const { tenantId, userId } = request.caller();
  const order = await request.services.catalog.createOrder(tenantId, userId, input);
  return { status: 201, data: order, headers: { Location: `/api/orders/${order.id}` } };
});
