import { catalogService } from '../../composition/catalog';
import { cursorSigner } from '../../composition/cursors';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute(
  'ListProducts',
  { services: { catalog: catalogService }, rateLimiter, cursorSigner },
  async (request, { catalog }) => {
    const { cursor, ...filters } = request.query;
    const { tenantId } = request.caller();
    const cursors = await request.cursors(tenantId, 1);
    const { data: page, etag } = await catalog.listProducts(tenantId, { ...filters, after: cursors.open(cursor) });
    return cursors.answer(page, etag);
  },
);
