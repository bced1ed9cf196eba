/**
 * Builds the page: web/src/main.ts (with the client SDK and the CSS it imports) bundled by esbuild
 * into content-hashed files, the icon hashed the same way, and index.html pointing at them under
 * /assets/. Every file but index.html (and the config.json written next to it at deploy time) has
 * its content hash in its name, so the CDN's one-year immutable rule for /assets/* is safe.
 *
 * Synchronous (esbuild's buildSync): the CDK's local bundling calls it during synthesis.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { ASSETS_PREFIX } from './config';

export const WEB_ROOT = __dirname;

export interface PageFile {
  /** File name under /assets/ (no directory). */
  readonly name: string;
  readonly contents: Buffer;
  readonly contentType: string;
}

export interface PageBuild {
  /** By name, index.html included. */
  readonly files: ReadonlyMap<string, PageFile>;
  readonly index: PageFile;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export function contentTypeOf(name: string): string {
  return CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream';
}

function file(name: string, contents: Buffer | Uint8Array | string): PageFile {
  return { name, contents: Buffer.from(contents), contentType: contentTypeOf(name) };
}

function hashed(source: string): PageFile {
  const contents = fs.readFileSync(source);
  const hash = createHash('sha256').update(contents).digest('hex').slice(0, 10);
  const ext = path.extname(source);
  return file(`${path.basename(source, ext)}-${hash}${ext}`, contents);
}

export function buildPage(options: { minify?: boolean } = {}): PageBuild {
  const outdir = path.join(WEB_ROOT, 'out'); // nothing is written there (write: false)
  const result = buildSync({
    entryPoints: { app: path.join(WEB_ROOT, 'src', 'main.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'none',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir,
    write: false,
    logLevel: 'silent',
  });
  const files = new Map<string, PageFile>();
  for (const output of result.outputFiles) {
    const name = path.relative(outdir, output.path);
    if (name.includes(path.sep)) throw new Error(`unexpected output outside the assets directory: ${name}`);
    files.set(name, file(name, output.contents));
  }
  const icon = hashed(path.join(WEB_ROOT, 'src', 'icon.svg'));
  files.set(icon.name, icon);

  const find = (pattern: RegExp): string => {
    const name = [...files.keys()].find((n) => pattern.test(n));
    if (!name) throw new Error(`the build produced no file matching ${pattern}`);
    return `${ASSETS_PREFIX}${name}`;
  };
  const refs: Record<string, string> = { js: find(/^app-\w+\.js$/), css: find(/^app-\w+\.css$/), icon: `${ASSETS_PREFIX}${icon.name}` };
  const html = fs.readFileSync(path.join(WEB_ROOT, 'index.html'), 'utf8').replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const ref = refs[key];
    if (ref === undefined) throw new Error(`index.html: unknown placeholder ${whole}`);
    return ref;
  });
  const index = file('index.html', html);
  files.set(index.name, index);
  return { files, index };
}

/** Writes a build into `outDir` (created if needed); returns the names written. */
export function writePage(outDir: string, build: PageBuild = buildPage()): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  for (const page of build.files.values()) fs.writeFileSync(path.join(outDir, page.name), page.contents);
  return [...build.files.keys()];
}
