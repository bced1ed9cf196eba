/**
 * One service of the container: built on first use, then shared by every invocation. A build that
 * fails is not kept: the next invocation tries again (a cold start's Secrets Manager read can be
 * throttled; that must not poison the container for its lifetime).
 *
 * Tests rewire a container by name (a Redis they can kill, a repository that counts calls) with
 * overrideServices: every service not overridden is then built afresh, from the overrides.
 */
export type Provider<T> = () => Promise<T>;

const overrides = new Map<string, unknown>();
const built = new Set<() => void>();

export function provider<T>(name: string, build: () => T | Promise<T>): Provider<T> {
  let value: Promise<T> | undefined;
  built.add(() => {
    value = undefined;
  });
  return () => {
    if (overrides.has(name)) return Promise.resolve(overrides.get(name) as T);
    if (value === undefined) {
      const building = Promise.resolve().then(build);
      value = building;
      building.catch(() => {
        if (value === building) value = undefined;
      });
    }
    return value;
  };
}

/** Replaces services by provider name (undefined: none), and forgets every built one. */
export function overrideServices(values: Readonly<Record<string, unknown>> | undefined): void {
  overrides.clear();
  for (const [name, value] of Object.entries(values ?? {})) overrides.set(name, value);
  forgetServices();
}

/** Forgets every built service; the next use builds it again. */
export function forgetServices(): void {
  for (const forget of built) forget();
}
