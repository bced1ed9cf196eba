import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('UpdateProduct', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const product = await catalog.updateProduct(request.caller().tenantId, request.id('id'), request.body, request.headers['if-match']);
  return { data: product };
});
