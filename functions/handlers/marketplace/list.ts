import { marketplaceQuerySchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('ListMarketplace', async (request) => {
  const { cursor, ...query } = request.query(marketplaceQuerySchema);
  const cursors = await request.cursors('marketplace', 2);
  const { data: page, etag } = await request.services.catalog.listMarketplace({ ...query, after: cursors.open(cursor) });
  return cursors.answer(page, etag);
});
