/** Jest global teardown: stop what global setup started (same process, so globalThis holds the handles). */
import { getHarnessServices, setHarnessServices, stopHarnessServices } from './services';

export default async function globalTeardown(): Promise<void> {
  const services = getHarnessServices();
  if (services === undefined) return;
  setHarnessServices(undefined);
  await stopHarnessServices(services);
}
