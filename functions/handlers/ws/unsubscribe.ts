import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsUnsubscribe', ({ connection, body, services }) =>
  services.realtime.unsubscribe(connection, body?.channel),
);
