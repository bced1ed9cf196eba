import { realtimeService } from '../../composition/realtime';
import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsConnect', { realtime: realtimeService });
