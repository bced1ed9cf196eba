import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('AdjustStock', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const stock = await catalog.adjustStock(request.caller().tenantId, request.id('id'), request.body.delta);
  return { data: stock };
});
