/** `npm run build:web [-- OUT_DIR]`: writes the page into OUT_DIR (default dist/web), as the CDK deploys it. */
import * as path from 'node:path';
import { buildPage, writePage } from './build';

const outDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist', 'web'));
const build = buildPage();
writePage(outDir, build);
for (const page of build.files.values()) process.stdout.write(`${String(page.contents.length).padStart(8)}  ${page.name}\n`);
process.stdout.write(`page written to ${outDir}\n`);
