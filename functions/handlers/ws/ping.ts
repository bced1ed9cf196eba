import { realtimeService } from '../../composition/realtime';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsPing', { realtime: realtimeService }, () => Promise.resolve({ type: 'pong' }));
