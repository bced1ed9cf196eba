/** The end of a container (the local stack's shutdown, a test's teardown): services dropped, connections closed. */
import { closeSharedDocumentClient } from '../shared/clients/dynamodb';
import { closeSharedRedis } from '../shared/clients/redis';
import { forgetServices } from './provider';

export async function closeServices(): Promise<void> {
  forgetServices();
  await closeSharedRedis();
  closeSharedDocumentClient();
}
