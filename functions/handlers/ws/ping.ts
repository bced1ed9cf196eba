import { realtimeService } from '../../composition/realtime';
import { notifierFor } from '../../realtime/notifier';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsPing', { realtime: realtimeService, replies: notifierFor }, () => Promise.resolve({ type: 'pong' }));
