import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsUnsubscribe', ({ connection, body, received, services }) =>
  services.realtime.unsubscribe(connection, body?.channel, body?.seq, received),
);
