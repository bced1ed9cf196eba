import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsSubscribe', ({ connection, body, services }) => services.realtime.subscribe(connection, body?.channel));
