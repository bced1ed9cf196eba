/**
 * Every link of the documentation a reader meets first resolves inside the repository: README,
 * the client's and the local stack's READMEs, RELIABILITY.md, BENCHMARKS.md and docs/. A file or
 * a heading that moves, or a link to something outside the clone, fails here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkMarkdownFile, headingIds, markdownFilesUnder } from './markdown-links';

const ROOT = path.join(__dirname, '..', '..');
const DOCUMENTS = [
  ...['README.md', 'client/README.md', 'local/README.md', 'RELIABILITY.md', 'BENCHMARKS.md'].map((f) => path.join(ROOT, f)),
  ...markdownFilesUnder(path.join(ROOT, 'docs')),
];

test('the documents exist (the list is not stale)', () => {
  for (const file of DOCUMENTS) expect([file, fs.existsSync(file)]).toEqual([file, true]);
  expect(DOCUMENTS.map((f) => path.relative(ROOT, f))).toContain(path.join('docs', 'contract.md'));
});

test.each(DOCUMENTS.map((file) => [path.relative(ROOT, file), file]))('every link of %s resolves inside the repository', (_name, file) => {
  expect(checkMarkdownFile(file, ROOT)).toEqual([]);
});

describe('the link check', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'links-'));
    fs.mkdirSync(path.join(dir, 'docs'));
    fs.writeFileSync(path.join(dir, 'docs', 'guide.md'), '# Guide\n\n## Caching rules\n\n## Caching rules\n\n## `npm start` & friends\n');
    fs.writeFileSync(path.join(dir, 'logo.png'), '');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const problemsOf = (markdown: string) => {
    const file = path.join(dir, 'README.md');
    fs.writeFileSync(file, markdown);
    return checkMarkdownFile(file, dir).map((p) => `${p.line} ${p.target}: ${p.problem}`);
  };

  it('accepts files, images, headings of the same and other files, and external URLs', () => {
    expect(
      problemsOf(
        [
          '# Top',
          '[guide](docs/guide.md) ![logo](logo.png) [rules](docs/guide.md#caching-rules) [again](docs/guide.md#caching-rules-1)',
          '[start](docs/guide.md#npm-start--friends) [top](#top) [site](https://example.com/x) `docs/guide.md`',
          '[ref]: docs/guide.md',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('finds missing files, headings and links out of the repository, also in code spans and references', () => {
    expect(
      problemsOf(
        [
          '[contract](../shared/docs/contract.md)',
          'See `shared/docs/contract.md` and [x](docs/missing.md).',
          '[rules](docs/guide.md#caching) [here](#nowhere)',
          '[ref]: docs/gone.md',
          '```',
          '[in a code block](docs/ignored.md)',
          '```',
        ].join('\n'),
      ),
    ).toEqual([
      '1 ../shared/docs/contract.md: points outside the repository',
      '2 shared/docs/contract.md: no such file in the repository',
      '2 docs/missing.md: no such file in the repository',
      '3 docs/guide.md#caching: no heading #caching in docs/guide.md',
      '3 #nowhere: no heading #nowhere in README.md',
      '4 docs/gone.md: no such file in the repository',
    ]);
  });

  it("computes GitHub's heading ids", () => {
    expect([...headingIds('# HTTP caching\n## What it prints\n## `npm start`: stop it (Ctrl-C)\n## What it prints\n')]).toEqual([
      'http-caching',
      'what-it-prints',
      'npm-start-stop-it-ctrl-c',
      'what-it-prints-1',
    ]);
  });
});
