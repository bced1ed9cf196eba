/**
 * `npm run openapi`: writes openapi.json (the OpenAPI 3.1 document of the route table) at the
 * repository root. `npm run openapi -- --check` only compares, and exits 1 when the file is stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openApiDocument } from './document';

export const OPENAPI_FILE = path.join(__dirname, '..', 'openapi.json');

export function renderOpenApi(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

function main(): void {
  const text = renderOpenApi();
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(OPENAPI_FILE) ? fs.readFileSync(OPENAPI_FILE, 'utf8') : '';
    if (current !== text) {
      process.stderr.write('openapi.json is not up to date: run npm run openapi\n');
      process.exit(1);
    }
    process.stdout.write('openapi.json is up to date\n');
    return;
  }
  fs.writeFileSync(OPENAPI_FILE, text);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), OPENAPI_FILE)} (${Object.keys((JSON.parse(text) as { paths: object }).paths).length} paths)\n`,
  );
}

if (require.main === module) main();
