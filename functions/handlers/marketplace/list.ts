import { catalogService } from '../../composition/catalog';
import { cursorSigner } from '../../composition/cursors';
import { restRoute } from '../../http/rest-route';

// Public: no permission, so no per-user limit (the public client limit is the edge's).
export const handler = restRoute(
  'ListMarketplace',
  { services: { catalog: catalogService }, cursorSigner },
  async (request, { catalog }) => {
    const { cursor, ...query } = request.query;
    const cursors = await request.cursors('marketplace', 2);
    const { data: page, etag } = await catalog.listMarketplace({ ...query, after: cursors.open(cursor) });
    return cursors.answer(page, etag);
  },
);
