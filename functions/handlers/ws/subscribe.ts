import { realtimeService } from '../../composition/realtime';
import { notifierFor } from '../../realtime/notifier';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute(
  'WsSubscribe',
  { realtime: realtimeService, replies: notifierFor },
  ({ connection, body, received, realtime }) => realtime.subscribe(connection, body?.channel, body?.seq, received),
);
