import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute(
  'GetProductStock',
  { services: { catalog: catalogService }, rateLimiter },
  async (request, { catalog }) => {
    const stock = await catalog.getStock(request.caller().tenantId, request.id('id'));
    return { data: stock };
  },
);
