import { stockAdjustmentSchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('AdjustStock', async (request) => {
  const productId = request.id('id');
  const { delta } = request.body(stockAdjustmentSchema);
  const stock = await request.services.catalog.adjustStock(request.caller().tenantId, productId, delta);
  return { data: stock };
});
