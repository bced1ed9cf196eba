/**
 * `npm run bench`: every case against services this script starts itself (DynamoDB Local, its own
 * redis-servers on free ports), each case's variants and baselines in this same run, interleaved.
 * Prints one Markdown table per case (stdout; progress goes to stderr) and writes the same as JSON
 * under bench/results/ (bench/results/quick/ with --quick).
 *
 *   npm run bench                      full sizes (BENCHMARKS.md)
 *   npm run bench -- --quick           small sizes, about a minute (CI runs this)
 *   npm run bench -- --only=read-path,stampede
 *   npm run bench -- --dynamodb=http://127.0.0.1:8000   use a running DynamoDB Local
 *   npm run bench -- --only=fan-out --full-sequential   measure the 10k sequential loop at 20 ms (~4 min) instead of projecting it
 *   npm run bench -- --only=fan-out --fan-out-sweep     also time FanOut at other concurrencies
 *   npm run bench -- --out=some/dir                     write the JSON and report.md there instead
 *   npm run bench -- --charts [--only=...]              only draw the SVG charts again from the JSON in the results directory
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coldStart } from './cases/cold-start';
import { conflation } from './cases/conflation';
import { connectionLimit } from './cases/connection-limit';
import { fairness } from './cases/fairness';
import { fanOut } from './cases/fan-out';
import { httpHitPath } from './cases/http-hit-path';
import { invalidation } from './cases/invalidation';
import { keyHeat } from './cases/key-heat';
import { memory } from './cases/memory';
import { readPath } from './cases/read-path';
import { stampede } from './cases/stampede';
import { throttledFanOut } from './cases/throttled-fan-out';
import { describeMachine, machineLine } from './lib/machine';
import {
  caseMarkdown,
  floorsTable,
  markdownTable,
  writeCharts,
  writeJson,
  type BenchCase,
  type CaseRecord,
  type FloorCheck,
} from './lib/report';
import { setLocalAwsEnvironment, startDynamo } from './lib/services';

const CASES: readonly BenchCase[] = [
  readPath,
  invalidation,
  stampede,
  httpHitPath,
  fanOut,
  throttledFanOut,
  conflation,
  fairness,
  connectionLimit,
  coldStart,
  memory,
  keyHeat,
];

function parseFlags(argv: readonly string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg} (flags look like --quick or --only=read-path)`);
    flags[m[1] as string] = m[2] ?? true;
  }
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const quick = flags.quick === true;
  const only = typeof flags.only === 'string' ? flags.only.split(',') : undefined;
  const unknown = only?.filter((id) => !CASES.some((c) => c.id === id)) ?? [];
  if (unknown.length) throw new Error(`unknown case ${unknown.join(', ')}; cases: ${CASES.map((c) => c.id).join(', ')}`);
  const selected = CASES.filter((c) => !only || only.includes(c.id));
  const resultsDir = typeof flags.out === 'string' ? path.resolve(flags.out) : path.join(__dirname, 'results', ...(quick ? ['quick'] : []));
  const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  if (flags.charts === true) {
    for (const bench of selected) {
      const file = path.join(resultsDir, `${bench.id}.json`);
      if (!bench.charts || !fs.existsSync(file)) continue;
      const record = JSON.parse(fs.readFileSync(file, 'utf8')) as CaseRecord;
      if (record.result === undefined) continue;
      for (const written of writeCharts(resultsDir, bench, record.result.data)) log(`wrote ${path.relative(process.cwd(), written)}`);
    }
    return;
  }

  setLocalAwsEnvironment();
  const machine = describeMachine();
  const started = Date.now();
  const out: string[] = [
    `# shop-edge benchmarks (${quick ? 'quick mode: small sizes, not for quoting' : 'full'})`,
    '',
    `Machine: ${machineLine(machine)}.`,
    `Run started ${new Date(started).toISOString()}.`,
    '',
  ];
  process.stdout.write(out.join('\n') + '\n');
  if (machine.loadAtStart > machine.cores * 0.75)
    log(`warning: load average ${machine.loadAtStart} on ${machine.cores} cores: other work will skew the figures`);

  log('starting DynamoDB Local');
  const dynamo = await startDynamo(typeof flags.dynamodb === 'string' ? flags.dynamodb : undefined);
  const allFloors: (FloorCheck & { case: string })[] = [];
  let failures = 0;
  try {
    for (const bench of selected) {
      const caseStarted = Date.now();
      log(`case ${bench.id}: started (load average ${os.loadavg()[0]?.toFixed(2)})`);
      const record: CaseRecord = {
        case: bench.id,
        title: bench.title,
        mode: quick ? 'quick' : 'full',
        startedAt: new Date(caseStarted).toISOString(),
        seconds: 0,
        machine,
      };
      let text: string;
      try {
        const result = await bench.run({ quick, flags, dynamo, log: (line) => log(`${bench.id}: ${line}`) });
        const seconds = (Date.now() - caseStarted) / 1000;
        text = caseMarkdown(bench, result, seconds);
        writeJson(resultsDir, bench.id, { ...record, seconds, loadAtEnd: os.loadavg()[0], result });
        writeCharts(resultsDir, bench, result.data);
        allFloors.push(...result.floors.map((f) => ({ ...f, case: bench.title })));
      } catch (error) {
        failures++;
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        text = `## ${bench.title}\n\n**failed**: \`\`\`\n${message}\n\`\`\`\n`;
        writeJson(resultsDir, bench.id, { ...record, seconds: (Date.now() - caseStarted) / 1000, error: message });
      }
      process.stdout.write(`${text}\n`);
      out.push(text);
      log(`case ${bench.id}: done in ${((Date.now() - caseStarted) / 1000).toFixed(0)} s`);
    }
  } finally {
    await dynamo.stop();
  }
  const summary = [
    '## Every floor',
    '',
    markdownTable({
      ...floorsTable(allFloors),
      columns: ['case', 'floor', 'measured', 'met'],
      rows: allFloors.map((f) => [f.case, f.floor, f.measured, f.met ? 'yes' : '**NO**']),
    }),
    '',
    `Total: ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    '',
  ].join('\n');
  process.stdout.write(summary);
  out.push(summary);
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'report.md'), out.join('\n'));
  log(`results in ${path.relative(process.cwd(), resultsDir)}/ (one JSON per case, report.md)`);
  // A failed case fails the run; a missed floor does not (it is a result, reported above).
  process.exitCode = failures > 0 ? 1 : 0;
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
