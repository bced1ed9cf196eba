/**
 * The REST API's gateway responses, rendered from the CDK-free table in
 * functions/shared/gateway-errors.ts (which the local front answers from too).
 */
import { ResponseType, type RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import { gatewayResponses } from '../../functions/shared/gateway-errors';

export function addGatewayErrors(api: RestApiBase): void {
  for (const [type, response] of gatewayResponses()) {
    api.addGatewayResponse(pascalCase(type), {
      type: ResponseType.of(type),
      statusCode: String(response.statusCode),
      // Static values are single-quoted in API Gateway's mapping syntax.
      responseHeaders: {
        ...Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, `'${value}'`])),
        ...Object.fromEntries(
          Object.entries(response.fromRequest ?? {}).map(([name, source]) => [name, `method.request.header.${source}`]),
        ),
      },
      templates: { ...response.templates },
    });
  }
}

function pascalCase(value: string): string {
  return value
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
