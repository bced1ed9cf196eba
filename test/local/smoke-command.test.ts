/**
 * `npm run smoke`, as a platform engineer runs it after a deploy, here against `npm start` (from
 * source, seeded, on free ports) with the URLs and a dev token it prints: the four checks pass and
 * exit 0, and leave no product behind; a REST URL where nothing listens fails at once (not after
 * a timeout), naming the check; bad usage prints the usage and exits 2.
 */
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../local/handlers';
import { freePort } from '../../local/services/free-port';
import { startNpmStart, userEnv, type NpmStart } from '../support/npm-start';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** `npm run smoke -- ...args`, bounded: a run that hangs is killed and fails the test. */
function smoke(args: readonly string[], boundMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('npm', ['run', 'smoke', '--', ...args], { cwd: REPO_ROOT, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run smoke did not end within ${boundMs} ms:\n${stdout}\n${stderr}`));
    }, boundMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The lines of the four checks (npm prints its own header before them). */
function checkLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^(health|read|write|bad-token) +(ok|FAIL) /.test(line));
}

describe('npm run smoke against npm start', () => {
  let stack: NpmStart | undefined;
  let token: string;

  beforeAll(async () => {
    // Seeded, so the read check reads a listed product; startup on a loaded machine can take 30 s and more.
    stack = await startNpmStart({ args: ['--', '--quiet'], env: { PORT: '0', WS_PORT: '0' }, readyTimeoutMs: 150_000 });
    token = stack.tokens.acme as string;
    expect(token).toMatch(/^eyJ/);
  }, 180_000);

  afterAll(async () => {
    if (stack === undefined) return;
    const { gone } = await stack.interrupt();
    if (!gone) stack.kill();
  }, 60_000);

  it('passes its four checks with the printed URLs and token, prints one line each, exits 0 and leaves no product behind', async () => {
    const { restUrl, wsUrl } = stack as NpmStart;
    const run = await smoke(['--rest', restUrl, '--ws', wsUrl, '--token', token]);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = checkLines(run.stdout);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^health +ok +\d+ ms {2}redis ok, dynamodb ok$/);
    expect(lines[1]).toMatch(/^read +ok +\d+ ms {2}5 listed, read [\w-]+$/);
    expect(lines[2]).toMatch(/^write +ok +\d+ ms {2}stock:update \d+ ms after the write was sent/);
    expect(lines[3]).toMatch(/^bad-token +ok +\d+ ms {2}REST 401 UNAUTHORIZED, WebSocket upgrade refused with 401$/);
    expect(run.stdout).toContain('smoke: all 4 checks passed');

    // The product the write check created is deleted again.
    const left = await fetch(`${restUrl}/api/products?q=Smoke%20check&limit=100`, { headers: { Authorization: `Bearer ${token}` } });
    expect(left.status).toBe(200);
    expect(((await left.json()) as { data: unknown[] }).data).toEqual([]);
  }, 180_000);

  it('fails at once, naming the checks, when nothing listens at --rest', async () => {
    const closed = await freePort(); // free now, and nothing of this test listens on it
    // With a 60 s bound on every call, ending well before it shows that no call waited for a timeout.
    const run = await smoke([
      '--rest',
      `http://127.0.0.1:${closed}`,
      '--ws',
      (stack as NpmStart).wsUrl,
      '--token',
      token,
      '--timeout',
      '60000',
    ]);

    expect(run.code).toBe(1);
    expect(run.ms).toBeLessThan(30_000);
    const lines = checkLines(run.stdout);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^health +FAIL +\d+ ms {2}GET \/health: expected an answer, got fetch failed \(ECONNREFUSED\)$/);
    for (const line of lines.slice(1)) expect(line).toMatch(/ FAIL .*expected an answer, got fetch failed \(ECONNREFUSED\)$/);
    expect(run.stdout).toContain('smoke: 4 of 4 checks failed');
  }, 120_000);
});

describe('npm run smoke, bad usage', () => {
  it.each([
    ['a missing flag', ['--rest', 'http://127.0.0.1:3000', '--ws', 'ws://127.0.0.1:3001'], /missing --token/],
    [
      'a REST URL that is not one',
      ['--rest', 'localhost:3000', '--ws', 'ws://127.0.0.1:3001', '--token', 't'],
      /--rest must be a http or https URL/,
    ],
    [
      'a WebSocket URL over http',
      ['--rest', 'http://127.0.0.1:3000', '--ws', 'http://127.0.0.1:3001', '--token', 't'],
      /--ws must be a ws or wss URL/,
    ],
  ])(
    '%s: prints the usage and exits 2',
    async (_case, args, message) => {
      const run = await smoke(args, 60_000);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('usage: npm run smoke -- --rest URL --ws URL --token JWT');
      expect(checkLines(run.stdout)).toEqual([]);
    },
    60_000,
  );
});
