import { listProductsQuerySchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('ListProducts', async (request) => {
  const { cursor, ...filters } = request.query(listProductsQuerySchema);
  const { tenantId } = request.caller();
  const cursors = await request.cursors(tenantId, 1);
  const { data: page, etag } = await request.services.catalog.listProducts(tenantId, { ...filters, after: cursors.open(cursor) });
  return cursors.answer(page, etag);
});
