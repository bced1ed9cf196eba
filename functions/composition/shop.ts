/** The Shop table's repository, on the container's DynamoDB client. */
import { DynamoShopRepository } from '../catalog/dynamodb/shop-repository';
import type { ShopRepository } from '../catalog/ports';
import { sharedDocumentClient } from '../shared/clients/dynamodb';
import { tablesConfig } from '../shared/config';
import { provider } from './provider';

export const shopRepository = provider<ShopRepository>(
  'shopRepository',
  () => new DynamoShopRepository(sharedDocumentClient(), tablesConfig().shopTableName),
);
