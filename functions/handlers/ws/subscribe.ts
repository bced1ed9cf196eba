import { realtimeService } from '../../composition/realtime';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsSubscribe', { realtime: realtimeService }, ({ connection, body, received, realtime }) =>
  realtime.subscribe(connection, body?.channel, body?.seq, received),
);
