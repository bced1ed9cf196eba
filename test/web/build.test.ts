/**
 * The page's build: content-hashed names for everything the one-year immutable CDN rule covers,
 * an index.html that points only at files of the build, nothing inline (the CSP allows none),
 * and a small bundle. The type-only import below makes `tsc` (which runs over test/) check the
 * browser code of web/src too.
 */
import type {} from '../../web/src/main';
import { buildPage } from '../../web/build';
import { ASSETS_PREFIX, ENTRY_FILES } from '../../web/config';
import { pageCsp } from '../../web/csp';

const build = buildPage();
const html = build.index.contents.toString('utf8');

describe('the page build', () => {
  it('names every file but the entry points by its content hash', () => {
    const names = [...build.files.keys()];
    expect(names).toContain('index.html');
    for (const name of names.filter((n) => !(ENTRY_FILES as readonly string[]).includes(n))) {
      expect(name).toMatch(/^[a-z]+-[A-Za-z0-9]{8,}\.(js|css|svg)(\.map)?$/);
    }
    expect(names.filter((n) => n.endsWith('.js'))).toHaveLength(1);
    expect(names.filter((n) => n.endsWith('.css'))).toHaveLength(1);
  });

  it('gives the same names for the same sources, and other names when a source changes', () => {
    const again = buildPage();
    expect([...again.files.keys()].sort()).toEqual([...build.files.keys()].sort());
    const unminified = buildPage({ minify: false });
    const js = (b: typeof build) => [...b.files.keys()].find((n) => n.endsWith('.js'));
    expect(js(unminified)).not.toBe(js(build));
  });

  it('has index.html point only at files of the build, under /assets/', () => {
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref.startsWith(ASSETS_PREFIX)).toBe(true);
      expect(build.files.has(ref.slice(ASSETS_PREFIX.length))).toBe(true);
    }
    expect(html).not.toMatch(/\{\{\w+\}\}/);
  });

  it('has no inline script, style or event handler (the CSP allows none)', () => {
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style\b/);
    expect(html).not.toMatch(/\sstyle="/);
    expect(html).not.toMatch(/\son[a-z]+="/);
    expect(pageCsp('wss://ws.example.com/prod')).toBe(
      "default-src 'self'; connect-src 'self' wss://ws.example.com/prod; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
  });

  it('stays small: the script (client SDK included) and the stylesheet', () => {
    const size = (ext: string) => [...build.files.values()].filter((f) => f.name.endsWith(ext)).reduce((n, f) => n + f.contents.length, 0);
    expect(size('.js')).toBeLessThan(40 * 1024);
    expect(size('.css')).toBeLessThan(12 * 1024);
    expect(build.index.contents.length).toBeLessThan(8 * 1024);
  });
});
