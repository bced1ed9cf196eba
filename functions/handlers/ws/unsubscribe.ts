import { realtimeService } from '../../composition/realtime';
import { notifierFor } from '../../realtime/notifier';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute(
  'WsUnsubscribe',
  { realtime: realtimeService, replies: notifierFor },
  ({ connection, body, received, realtime }) => realtime.unsubscribe(connection, body?.channel, body?.seq, received),
);
