/**
 * local/README.md shows what `npm start` really prints: its two sample blocks ("What it prints",
 * "Stopping it") are matched line by line against a real run (seeded, with its own DynamoDB Local
 * and redis-server, as a developer starts it), with only ports, timings and tokens left open; and
 * Ctrl-C ends it as the README says: npm by SIGINT, the stack stopped, no process left behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePorts } from '../../local/services/free-port';
import { startNpmStart, type NpmStart } from '../support/npm-start';

const ROOT = path.join(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'local', 'README.md'), 'utf8');

/** The first fenced block after a heading. */
function blockAfter(heading: string): string[] {
  const section = README.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
  const block = section === undefined ? undefined : /```[^\n]*\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error(`local/README.md has no code block under "## ${heading}"`);
  return block.replace(/\n$/, '').split('\n');
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A README line as a pattern: the REST and WebSocket ports are the run's, other ports, timings and tokens any. */
function linePattern(line: string, ports: { rest: number; ws: number }): RegExp {
  const pattern = escape(line.trimEnd())
    .replace(/127\\\.0\\\.0\\\.1:(\d{4,5})\b/g, (_all, port: string) => {
      const actual = port === '3000' ? String(ports.rest) : port === '3001' ? String(ports.ws) : '\\d+';
      return `127\\.0\\.0\\.1:${actual}`;
    })
    .replace(/\b\d+ ms\b/g, '\\d+ ms')
    .replace(/eyJ\\\.\\\.\\\./g, 'eyJ[\\w-]+\\.[\\w-]+\\.[\\w-]+');
  return new RegExp(`^${pattern}$`);
}

/** Problems matching printed lines against README lines, where a README line `...` stands for any lines. */
function mismatches(readme: readonly string[], printed: readonly string[], ports: { rest: number; ws: number }): string[] {
  const patterns = readme.map((line) => (line.trim() === '...' ? undefined : linePattern(line, ports)));
  const match = (p: number, l: number): boolean => {
    if (p === patterns.length) return l === printed.length;
    const pattern = patterns[p];
    if (pattern === undefined) {
      for (let skip = l; skip <= printed.length; skip++) if (match(p + 1, skip)) return true;
      return false;
    }
    return l < printed.length && pattern.test(printed[l] ?? '') && match(p + 1, l + 1);
  };
  if (match(0, 0)) return [];
  // Where it first goes wrong, for the failure message (gaps aside).
  const first = patterns.findIndex((pattern) => pattern !== undefined && !printed.some((line) => pattern.test(line)));
  return [
    first >= 0
      ? `README line not printed: ${readme[first]}`
      : 'README lines are printed, but not in this order or with other lines between',
    `printed:\n${printed.join('\n')}`,
  ];
}

test('the matching finds a line the README shows that is not printed, and one printed that it does not show', () => {
  const ports = { rest: 3000, ws: 3001 };
  const readme = ['REST       http://127.0.0.1:3000   (12 routes)', '...', 'ready'];
  expect(mismatches(readme, ['REST       http://127.0.0.1:3000   (12 routes)', 'x', 'y', 'ready'], ports)).toEqual([]);
  expect(mismatches(readme, ['REST       http://127.0.0.1:3999   (12 routes)', 'ready'], ports)[0]).toMatch(/not printed: REST/);
  expect(mismatches(['a', 'b'], ['a', 'Page       http://127.0.0.1:3000/', 'b'], ports)[0]).toMatch(
    /not in this order or with other lines/,
  );
});

describe('npm start, as local/README.md shows it', () => {
  let npmStart: NpmStart | undefined;

  afterEach(() => {
    // Never leave a stack running if an assertion failed half-way.
    npmStart?.kill();
  });

  it('prints the lines of "What it prints", and on Ctrl-C those of "Stopping it", then leaves nothing running', async () => {
    // Prepare
    const [rest, ws] = (await freePorts(2)) as [number, number];
    npmStart = await startNpmStart({ env: { PORT: String(rest), WS_PORT: String(ws) }, readyTimeoutMs: 120_000 });
    const started = npmStart.stdout().split('\n');
    const first = started.findIndex((line) => line.startsWith('shop-edge local stack: starting'));
    const ready = started.findIndex((line) => line.includes(' ready: '));

    // Act: Ctrl-C, as a terminal sends it, to the whole job.
    const { signal, gone } = await npmStart.interrupt(); // every process that shares the output has ended
    const stopped = npmStart
      .stdout()
      .split('\n')
      .slice(ready + 1);

    // Assess
    expect(mismatches(blockAfter('What it prints'), started.slice(first, ready + 1), { rest, ws })).toEqual([]);
    expect(mismatches(blockAfter('Stopping it'), stopped.slice(0, stopped.at(-1) === '' ? -1 : undefined), { rest, ws })).toEqual([]);
    expect(signal).toBe('SIGINT'); // npm ends by the signal: a shell shows 130
    expect(README).toMatch(/exit status 130/);
    expect(gone).toBe(true);
    await expect(fetch(`http://127.0.0.1:${rest}/health`)).rejects.toThrow();
  }, 200_000);
});
