import { realtimeService } from '../../composition/realtime';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsDefault', { realtime: realtimeService }, () =>
  Promise.resolve({
    type: 'error',
    code: 'BAD_REQUEST',
    message: 'send JSON with "action": subscribe, unsubscribe or ping',
  }),
);
