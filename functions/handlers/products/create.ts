import { createProductSchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('CreateProduct', async (request) => {
  const input = request.body(createProductSchema);
  const product = await request.services.catalog.createProduct(request.caller().tenantId, input);
  return { status: 201, data: product, headers: { Location: `/api/products/${product.id}` } };
});
