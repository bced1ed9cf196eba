/** The WebSocket connections table's store, on the container's DynamoDB client. */
import { ConnectionStore } from '../realtime/connection-store';
import { sharedDocumentClient } from '../shared/clients/dynamodb';
import { tablesConfig } from '../shared/config';
import { provider } from './provider';

export const connectionStore = provider<ConnectionStore>(
  'connections',
  () => new ConnectionStore(sharedDocumentClient(), tablesConfig().connectionsTableName),
);
