import { restRoute } from '../../http/rest-route';

export const handler = restRoute('GetOrder', async (request) => {
  const { data, etag } = await request.services.catalog.getOrder(request.caller().tenantId, request.id('id'));
  return { data, etag };
});
