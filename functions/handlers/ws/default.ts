import { realtimeService } from '../../composition/realtime';
import { notifierFor } from '../../realtime/notifier';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsDefault', { realtime: realtimeService, replies: notifierFor }, () =>
  Promise.resolve({
    type: 'error',
    code: 'BAD_REQUEST',
    message: 'send JSON with "action": subscribe, unsubscribe or ping',
  }),
);
