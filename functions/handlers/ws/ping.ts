import { wsRoute } from '../../realtime/ws-route';

export const handler = wsRoute('WsPing', () => Promise.resolve({ type: 'pong' }));
