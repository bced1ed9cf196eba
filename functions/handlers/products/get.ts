import { catalogService } from '../../composition/catalog';
import { rateLimiter } from '../../composition/rate-limit';
import { restRoute } from '../../http/rest-route';
import { PRIVATE_NO_STORE } from '../../shared/cache-headers';

export const handler = restRoute('GetProduct', { services: { catalog: catalogService }, rateLimiter }, async (request, { catalog }) => {
  const productId = request.id('id');
  const { tenantId } = request.caller();
  if (request.query.include === 'stock') {
    // Live stock inside the body: never in a shared cache.
    const { data, etag } = await catalog.getProductWithStock(tenantId, productId);
    return { data, etag, headers: PRIVATE_NO_STORE };
  }
  const { data, etag } = await catalog.getProduct(tenantId, productId);
  return { data, etag };
});
