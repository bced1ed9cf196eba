import { restRoute } from '../../http/rest-route';

export const handler = restRoute('DeleteProduct', async (request) => {
  await request.services.catalog.deleteProduct(request.caller().tenantId, request.id('id'));
  return { status: 204 };
});
