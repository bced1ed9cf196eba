/** The catalogue service of the REST routes: the Shop table behind the two-tier cache. */
import { CatalogService } from '../catalog/catalog-service';
import { appConfig } from '../shared/config';
import { provider } from './provider';
import { sharedCache } from './redis';
import { shopRepository } from './shop';

export const catalogService = provider<CatalogService>(
  'catalog',
  async () => new CatalogService(await shopRepository(), await sharedCache(), appConfig()),
);
