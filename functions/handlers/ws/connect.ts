import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsConnect');
