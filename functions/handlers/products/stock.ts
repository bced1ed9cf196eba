import { restRoute } from '../../http/rest-route';

export const handler = restRoute('GetProductStock', async (request) => {
  const stock = await request.services.catalog.getStock(request.caller().tenantId, request.id('id'));
  return { data: stock };
});
