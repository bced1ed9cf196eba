import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsSubscribe', ({ connection, body, received, services }) =>
  services.realtime.subscribe(connection, body?.channel, body?.seq, received),
);
