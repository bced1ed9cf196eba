/**
 * Line charts as standalone SVG, written by hand (no browser, no charting dependency): axes with
 * ticks on a linear or log scale, a legend, lines (straight or stepped, solid or dashed) and
 * point markers. The figures in BENCHMARKS.md are these files.
 */

export interface Axis {
  readonly label: string;
  /** Log scale (base 10); every value must be > 0. @default false */
  readonly log?: boolean;
  /** The range shown; @default the data's (from 0 on a linear axis whose data are all ≥ 0) */
  readonly min?: number;
  readonly max?: number;
  /** Tick labels. @default a short number */
  readonly format?: (value: number) => string;
}

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** @default the next colour of the palette */
  readonly color?: string;
  /** @default false */
  readonly dashed?: boolean;
  /** Markers at the points. @default true when there are at most 30 points */
  readonly markers?: boolean;
  /** Holds each value until the next point (a staircase), as a counter read over time. @default false */
  readonly step?: boolean;
  /** @default 2 */
  readonly width?: number;
}

export interface LineChart {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  /** Lines printed under the title, smaller. */
  readonly subtitle?: string;
  /** Where the legend goes: inside the plot at its top left or bottom right, or right of it (the chart grows). @default 'top-left' */
  readonly legend?: 'top-left' | 'bottom-right' | 'right';
  /** @default 720 */
  readonly width?: number;
  /** @default 420 */
  readonly height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
const MARGIN = { top: 56, right: 36, bottom: 56, left: 72 };

export function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** "1.5k", "20", "0.25", "1M" */
export function shortNumber(value: number): string {
  const abs = Math.abs(value);
  const trim = (n: number) => String(Number(n.toPrecision(3)));
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

/** About `count` round ticks (1, 2 or 5 × 10^n apart) from min up to the first at or past max. */
export function linearTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  // Up to the first tick at or past max: an axis drawn to it ends on a labelled tick.
  for (let v = Math.ceil(min / step - 1e-9) * step; ; v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max - step * 1e-9) return ticks;
  }
}

/** Powers of ten in [min, max]; with 1, 2 and 5 of each decade when the range spans less than three. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const steps = hi - lo < 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++)
    for (const m of steps) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  return ticks;
}

interface Scale {
  readonly min: number;
  readonly max: number;
  readonly ticks: number[];
  /** 0..1 across the axis. */
  at(value: number): number;
}

function scaleFor(axis: Axis, values: readonly number[]): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let min = axis.min ?? (finite.length ? Math.min(...finite) : 0);
  let max = axis.max ?? (finite.length ? Math.max(...finite) : 1);
  if (axis.log) {
    if (axis.min === undefined) min = 10 ** Math.floor(Math.log10(min));
    if (axis.max === undefined) max = 10 ** Math.ceil(Math.log10(max));
    if (!(max > min)) max = min * 10;
    const [lo, hi] = [Math.log10(min), Math.log10(max)];
    return { min, max, ticks: logTicks(min, max), at: (v) => (Math.log10(v) - lo) / (hi - lo) };
  }
  if (axis.min === undefined && min >= 0) min = 0;
  if (!(max > min)) max = min + 1;
  const ticks = linearTicks(min, max);
  if (axis.max === undefined) max = Math.max(max, ticks[ticks.length - 1] ?? max);
  return { min, max, ticks: ticks.filter((t) => t >= min && t <= max), at: (v) => (v - min) / (max - min) };
}

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

export function lineChartSvg(chart: LineChart): string {
  const legendAt = chart.legend ?? 'top-left';
  const legendW = Math.max(...chart.series.map((s) => s.name.length)) * 6.6 + 40;
  const legendH = chart.series.length * 18 + 8;
  const width = (chart.width ?? 720) + (legendAt === 'right' ? legendW + 12 : 0);
  const height = chart.height ?? 420;
  const plotW = width - MARGIN.left - MARGIN.right - (legendAt === 'right' ? legendW + 12 : 0);
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const all = chart.series.flatMap((s) => s.points);
  const xs = scaleFor(
    chart.x,
    all.map((p) => p[0]),
  );
  const ys = scaleFor(
    chart.y,
    all.map((p) => p[1]),
  );
  const inRange = (s: Scale, axis: Axis, v: number) => Number.isFinite(v) && (!axis.log || v > 0) && v >= s.min && v <= s.max;
  const px = (v: number) => MARGIN.left + xs.at(v) * plotW;
  const py = (v: number) => MARGIN.top + (1 - ys.at(v)) * plotH;
  const xFormat = chart.x.format ?? shortNumber;
  const yFormat = chart.y.format ?? shortNumber;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle) out.push(`<text x="${width / 2}" y="38" text-anchor="middle" fill="#555555">${escapeXml(chart.subtitle)}</text>`);
  // Grid and ticks.
  for (const t of xs.ticks) {
    const x = fmt(px(t));
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${escapeXml(xFormat(t))}</text>`);
  }
  for (const t of ys.ticks) {
    const y = fmt(py(t));
    out.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(yFormat(t))}</text>`);
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(chart.x.label + (chart.x.log ? ' (log scale)' : ''))}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.y.label + (chart.y.log ? ' (log scale)' : ''))}</text>`,
  );
  // Series, clipped to the plot.
  out.push(`<clipPath id="plot"><rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  const colors = chart.series.map((s, i) => s.color ?? (PALETTE[i % PALETTE.length] as string));
  chart.series.forEach((s, i) => {
    const color = colors[i] as string;
    const points = s.points.filter(([x, y]) => inRange(xs, chart.x, x) && inRange(ys, chart.y, y));
    if (points.length === 0) return;
    const coords: string[] = [];
    points.forEach(([x, y], k) => {
      if (s.step && k > 0) coords.push(`${fmt(px(x))},${fmt(py((points[k - 1] as readonly [number, number])[1]))}`);
      coords.push(`${fmt(px(x))},${fmt(py(y))}`);
    });
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<polyline clip-path="url(#plot)" fill="none" stroke="${color}" stroke-width="${s.width ?? 2}"${dash} stroke-linejoin="round" points="${coords.join(' ')}"/>`,
    );
    if (s.markers ?? points.length <= 30) {
      for (const [x, y] of points) out.push(`<circle cx="${fmt(px(x))}" cy="${fmt(py(y))}" r="3" fill="${color}"/>`);
    }
  });
  // Legend.
  const [left, top] =
    legendAt === 'right'
      ? [MARGIN.left + plotW + 12, MARGIN.top]
      : legendAt === 'bottom-right'
        ? [MARGIN.left + plotW - 8 - legendW, MARGIN.top + plotH - 8 - legendH]
        : [MARGIN.left + 8, MARGIN.top + 8];
  out.push(
    `<rect x="${fmt(left)}" y="${fmt(top)}" width="${fmt(legendW)}" height="${legendH}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
  );
  chart.series.forEach((s, i) => {
    const y = top + 14 + i * 18;
    const x = left + 8;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${colors[i]}" stroke-width="${s.width ?? 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
