/** The local stack's output: one line per event, tagged with the part that speaks. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function consoleLogger(tag: string): Logger {
  const line = (message: string) => `[${tag}] ${message}\n`;
  return {
    info: (message) => process.stdout.write(line(message)),
    warn: (message) => process.stderr.write(line(`warning: ${message}`)),
    error: (message) => process.stderr.write(line(`error: ${message}`)),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The stack of an error for the developer's terminal (never for a response body). */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
