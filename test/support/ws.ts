import type { RawData } from 'ws';

/** A ws frame's bytes as UTF-8 text, whichever form ws hands them over in (Buffer, ArrayBuffer, fragments). */
export function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
