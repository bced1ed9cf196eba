import { updateProductSchema } from '../../catalog/model';
import { restRoute } from '../../http/rest-route';

export const handler = restRoute('UpdateProduct', async (request) => {
  const productId = request.id('id');
  const patch = request.body(updateProductSchema);
  const product = await request.services.catalog.updateProduct(request.caller().tenantId, productId, patch, request.headers['if-match']);
  return { data: product };
});
