import { realtimeService } from '../../composition/realtime';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsUnsubscribe', { realtime: realtimeService }, ({ connection, body, received, realtime }) =>
  realtime.unsubscribe(connection, body?.channel, body?.seq, received),
);
