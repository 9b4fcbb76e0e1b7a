/**
 * Geometry for a server-rendered SVG bar chart (views/partials/chart.njk draws it). No
 * script, no inline style: colours come from CSS classes, so it passes the CSP and works
 * with JavaScript off; the same data is offered as a table for screen readers.
 */
export interface ChartSeries {
  name: string;
  className: string;
  values: number[];
}

export interface BarChart {
  width: number;
  height: number;
  plot: { left: number; top: number; width: number; height: number };
  max: number;
  gridlines: { y: number; value: number }[];
  bars: { x: number; y: number; width: number; height: number; className: string; title: string }[];
  xLabels: { x: number; text: string }[];
  labels: string[];
  series: ChartSeries[];
  total: number;
}

/** A "nice" axis maximum: 1, 2, 5 × 10^n at or above the largest value. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((m) => m * power >= value)!;
  return step * power;
}

export function barChart(labels: string[], series: ChartSeries[], size = { width: 640, height: 220 }): BarChart {
  const plot = { left: 36, top: 10, width: size.width - 46, height: size.height - 40 };
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const slot = plot.width / Math.max(1, labels.length);
  const barWidth = Math.max(1, (slot * 0.8) / series.length);
  const bars = labels.flatMap((label, i) =>
    series.map((s, j) => {
      const value = s.values[i] ?? 0;
      const height = (value / max) * plot.height;
      return {
        x: +(plot.left + i * slot + slot * 0.1 + j * barWidth).toFixed(2),
        y: +(plot.top + plot.height - height).toFixed(2),
        width: +barWidth.toFixed(2),
        height: +height.toFixed(2),
        className: s.className,
        title: `${label}: ${value} ${s.name}`,
      };
    }),
  );
  const every = Math.ceil(labels.length / 6);
  return {
    width: size.width,
    height: size.height,
    plot,
    max,
    gridlines: [0, 0.5, 1].map((f) => ({ y: +(plot.top + plot.height - f * plot.height).toFixed(2), value: Math.round(f * max) })),
    bars,
    xLabels: labels.map((text, i) => ({ x: +(plot.left + i * slot + slot / 2).toFixed(2), text: text.slice(5) })).filter((_, i) => i % every === 0),
    labels,
    series,
    total: series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + b, 0), 0),
  };
}
