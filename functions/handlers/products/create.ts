import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('CreateProduct', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const product = await catalog.createProduct(request.caller().tenantId, request.body);
  return { status: 201, data: product, headers: { Location: `/api/products/${product.id}` } };
});
