import { marketplaceQuerySchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('ListMarketplace', async (request) => {
  const query = request.query(marketplaceQuerySchema);
  const { data: page, etag } = await request.services.catalog.listMarketplace(query);
  return { data: page.data, nextCursor: page.nextCursor, etag };
});
