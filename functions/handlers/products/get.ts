import { z } from 'zod';
import { PRIVATE_NO_STORE } from '../../http/cache-control';
import { restRoute } from '../../http/rest-route';

const query = z.strictObject({ include: z.enum(['stock']).optional() });

export const handler = restRoute('GetProduct', async (request) => {
  const { include } = request.query(query);
  const productId = request.id('id');
  const { tenantId } = request.caller();
  if (include === 'stock') {
    // Live stock inside the body: never in a shared cache.
    const { data, etag } = await request.services.catalog.getProductWithStock(tenantId, productId);
    return { data, etag, headers: PRIVATE_NO_STORE };
  }
  const { data, etag } = await request.services.catalog.getProduct(tenantId, productId);
  return { data, etag };
});
