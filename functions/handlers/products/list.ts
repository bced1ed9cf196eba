import { listProductsQuerySchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('ListProducts', async (request) => {
  const query = request.query(listProductsQuerySchema);
  const { data: page, etag } = await request.services.catalog.listProducts(request.caller().tenantId, query);
  return { data: page.data, nextCursor: page.nextCursor, etag };
});
