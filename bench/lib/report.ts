/** What a case reports: Markdown tables, floor checks and raw data; printed and written as JSON. */
import fs from 'node:fs';
import path from 'node:path';
import type { Machine } from './machine';
import type { Dynamo } from './services';
import { lineChartSvg, type LineChart } from './svg';

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Lines printed under the table. */
  readonly notes?: readonly string[];
}

export interface FloorCheck {
  /** The floor as the issue states it. */
  readonly floor: string;
  /** What this run measured. */
  readonly measured: string;
  readonly met: boolean;
}

export interface CaseResult {
  readonly tables: readonly Table[];
  readonly floors: readonly FloorCheck[];
  /** Lines printed before the tables (headline figures). */
  readonly headline?: readonly string[];
  /** Everything measured, machine-readable. */
  readonly data: unknown;
}

export interface CaseContext {
  readonly quick: boolean;
  /** Progress lines (stderr), so stdout carries only the tables. */
  log(line: string): void;
  /** Passed through from the command line (--name=value). */
  readonly flags: Readonly<Record<string, string | boolean>>;
  /** The run's DynamoDB Local. */
  readonly dynamo: Dynamo;
}

export interface BenchCase {
  readonly id: string;
  readonly title: string;
  /** What is compared, printed under the heading. */
  readonly description: string;
  run(ctx: CaseContext): Promise<CaseResult>;
  /** Charts drawn from a result's `data` (a run's, or one read back from its JSON): bench/results/<name>.svg. */
  charts?(data: unknown): readonly NamedChart[];
}

export interface NamedChart {
  /** The file name without .svg. */
  readonly name: string;
  readonly chart: LineChart;
}

/** Writes the case's charts next to its JSON; the files written. */
export function writeCharts(dir: string, bench: BenchCase, data: unknown): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return (bench.charts?.(data) ?? []).map(({ name, chart }) => {
    const file = path.join(dir, `${name}.svg`);
    fs.writeFileSync(file, lineChartSvg(chart));
    return file;
  });
}

export function markdownTable(table: Table): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const lines = [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `| ${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  const notes = (table.notes ?? []).map((n) => `\n${n}`).join('');
  return `**${table.title}**\n\n${lines.join('\n')}\n${notes}`;
}

export function floorsTable(floors: readonly FloorCheck[]): Table {
  return {
    title: 'Floors',
    columns: ['floor', 'measured', 'met'],
    rows: floors.map((f) => [f.floor, f.measured, f.met ? 'yes' : '**NO**']),
  };
}

export function caseMarkdown(bench: BenchCase, result: CaseResult, seconds: number): string {
  const parts = [`## ${bench.title}`, '', bench.description, ''];
  if (result.headline?.length) parts.push(...result.headline.map((h) => `> ${h}`), '');
  for (const table of result.tables) parts.push(markdownTable(table), '');
  if (result.floors.length) parts.push(markdownTable(floorsTable(result.floors)), '');
  parts.push(`_case ran in ${seconds.toFixed(0)} s_`, '');
  return parts.join('\n');
}

export function writeJson(dir: string, name: string, value: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

export interface CaseRecord {
  readonly case: string;
  readonly title: string;
  readonly mode: 'quick' | 'full';
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: Machine;
  readonly result?: CaseResult;
  readonly error?: string;
}
