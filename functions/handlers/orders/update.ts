import { updateOrderSchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('UpdateOrder', async (request) => {
  const orderId = request.id('id');
  const { status } = request.body(updateOrderSchema);
  const order = await request.services.catalog.updateOrderStatus(request.caller().tenantId, orderId, status);
  return { data: order };
});
