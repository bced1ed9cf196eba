import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('DeleteProduct', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  await catalog.deleteProduct(request.caller().tenantId, request.id('id'));
  return { status: 204 };
});
