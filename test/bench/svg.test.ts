/** The benchmark charts' SVG writer (bench/lib/svg.ts): well-formed XML, every point drawn inside the plot. */
import { parseXML } from '@aws-sdk/xml-builder';
import { lineChartSvg, linearTicks, logTicks, type LineChart } from '../../bench/lib/svg';

const chart: LineChart = {
  title: 'Invalidation <against> keyspace & size',
  x: { label: 'keys "present"', log: true },
  y: { label: 'ms', log: true },
  legend: 'right',
  series: [
    {
      name: 'ours',
      points: [
        [1_000, 0.065],
        [10_000, 0.11],
        [1_000_000, 0.13],
      ],
    },
    // NaN and a value ≤ 0 cannot be drawn on a log scale: left out, not drawn outside the plot.
    {
      name: 'KEYS+DEL <one> & more',
      dashed: true,
      step: true,
      points: [
        [1_000, 0.16],
        [100_000, Number.NaN],
        [300_000, 0],
        [1_000_000, 80.5],
      ],
    },
  ],
};

/** The plot's frame: the first rect with a stroke and no fill. */
function plotFrame(svg: string): { x: number; y: number; w: number; h: number } {
  const m = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/.exec(svg);
  if (!m) throw new Error('no plot frame');
  return { x: Number(m[1]), y: Number(m[2]), w: Number(m[3]), h: Number(m[4]) };
}

it('writes well-formed XML with its text escaped', () => {
  const svg = lineChartSvg(chart);
  expect(() => parseXML(svg) as unknown).not.toThrow();
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  // Every & starts an entity.
  expect(svg.match(/&(?!(amp|lt|gt|quot);)/g)).toBeNull();
  expect(svg).toContain('Invalidation &lt;against&gt; keyspace &amp; size');
});

it('draws every point inside the plot, and leaves out the ones a log scale cannot show', () => {
  const svg = lineChartSvg(chart);
  const frame = plotFrame(svg);
  const inside = (x: number, y: number) =>
    x >= frame.x - 0.05 && x <= frame.x + frame.w + 0.05 && y >= frame.y - 0.05 && y <= frame.y + frame.h + 0.05;
  const circles = [...svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
  expect(circles).toHaveLength(3 + 2);
  for (const [x, y] of circles) expect(inside(x, y)).toBe(true);
  for (const line of svg.matchAll(/<polyline[^>]* points="([^"]+)"/g)) {
    for (const pair of (line[1] as string).split(' ')) {
      const [x, y] = pair.split(',').map(Number) as [number, number];
      expect(inside(x, y)).toBe(true);
    }
  }
  // The lowest and highest value of ours sit at the bottom and the top decade's ends: 0.01 and 100.
  const ys = circles.map(([, y]) => y);
  expect(Math.max(...ys)).toBeLessThan(frame.y + frame.h);
  expect(Math.min(...ys)).toBeGreaterThan(frame.y);
});

it('picks round ticks', () => {
  expect(linearTicks(0, 9.5)).toEqual([0, 2, 4, 6, 8, 10]);
  expect(logTicks(1_000, 1_000_000)).toEqual([1_000, 10_000, 100_000, 1_000_000]);
  expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
});
