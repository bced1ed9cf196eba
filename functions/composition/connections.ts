/** The WebSocket connections table's store, on the container's DynamoDB client. */
import { DynamoConnectionStore } from '../realtime/connection-store';
import { sharedDocumentClient } from '../shared/clients/dynamodb';
import { tablesConfig } from '../shared/config';
import { provider } from './provider';

export const connectionStore = provider<DynamoConnectionStore>(
  'connections',
  () => new DynamoConnectionStore(sharedDocumentClient(), tablesConfig().connectionsTableName),
);
