/**
 * `npm run asyncapi`: writes asyncapi.json (the AsyncAPI 3 document of the WebSocket API, from the
 * SDK's message schemas) at the repository root. `npm run asyncapi -- --check` only compares, and
 * exits 1 when the file is stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asyncApiDocument } from './document';

export const ASYNCAPI_FILE = path.join(__dirname, '..', 'asyncapi.json');

export function renderAsyncApi(): string {
  return `${JSON.stringify(asyncApiDocument(), null, 2)}\n`;
}

function main(): void {
  const text = renderAsyncApi();
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(ASYNCAPI_FILE) ? fs.readFileSync(ASYNCAPI_FILE, 'utf8') : '';
    if (current !== text) {
      process.stderr.write('asyncapi.json is not up to date: run npm run asyncapi\n');
      process.exit(1);
    }
    process.stdout.write('asyncapi.json is up to date\n');
    return;
  }
  fs.writeFileSync(ASYNCAPI_FILE, text);
  const { operations, components } = JSON.parse(text) as { operations: object; components: { messages: object } };
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), ASYNCAPI_FILE)} (${Object.keys(operations).length} operations, ${Object.keys(components.messages).length} messages)\n`,
  );
}

if (require.main === module) main();
