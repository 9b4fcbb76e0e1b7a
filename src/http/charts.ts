import { DAY_MS } from '../clock.js';

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

export function barChart(labels: string[], series: ChartSeries[], size = { width: 480, height: 200 }): BarChart {
  const plot = { left: 40, top: 12, width: size.width - 50, height: size.height - 44 };
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
  const every = Math.ceil(labels.length / 5);
  return {
    width: size.width,
    height: size.height,
    plot,
    max,
    // Whole-number ticks only: 0, the middle when it is a whole number, and the top.
    gridlines: [0, max / 2, max]
      .filter((v, i) => i !== 1 || Number.isInteger(v))
      .map((value) => ({ y: +(plot.top + plot.height - (value / max) * plot.height).toFixed(2), value })),
    bars,
    xLabels: labels.map((text, i) => ({ x: +(plot.left + i * slot + slot / 2).toFixed(2), text: text.slice(5) })).filter((_, i) => i % every === 0),
    labels,
    series,
    total: series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + b, 0), 0),
  };
}

/** The last `days` UTC dates, oldest first, as YYYY-MM-DD: the x axis of a daily chart. */
export function lastDays(now: Date, days: number): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: days }, (_, i) => new Date(today - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

/** Values for each day of `days`, zero where `counts` has none. */
export function fillDays(days: string[], counts: { day: string; n: number }[]): number[] {
  const byDay = new Map(counts.map((c) => [c.day, c.n]));
  return days.map((d) => byDay.get(d) ?? 0);
}

/** Geometry for a horizontal grouped bar chart: one group per row label, one bar per series (views/partials/chart.njk, funnelChart). */
export interface HorizontalChart {
  width: number;
  height: number;
  plot: { left: number; width: number };
  max: number;
  groups: { label: string; y: number; labelY: number }[];
  bars: { x: number; y: number; width: number; height: number; className: string; title: string; value: number; valueX: number; valueY: number }[];
  labels: string[];
  series: ChartSeries[];
}

export function horizontalChart(labels: string[], series: ChartSeries[], width = 480): HorizontalChart {
  const bar = 10;
  const gap = 14;
  const groupHeight = series.length * bar + gap;
  const plot = { left: 150, width: width - 150 - 56 };
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const groups = labels.map((label, i) => ({ label, y: 8 + i * groupHeight, labelY: 8 + i * groupHeight + (series.length * bar) / 2 + 4 }));
  const bars = labels.flatMap((label, i) =>
    series.map((s, j) => {
      const value = s.values[i] ?? 0;
      const w = +((value / max) * plot.width).toFixed(2);
      const y = groups[i]!.y + j * bar;
      return {
        x: plot.left,
        y,
        width: w,
        height: bar - 2,
        className: s.className,
        title: `${label}: ${value} ${s.name}`,
        value,
        valueX: +(plot.left + w + 4).toFixed(2),
        valueY: y + bar - 2,
      };
    }),
  );
  return { width, height: 8 + labels.length * groupHeight, plot, max, groups, bars, labels, series };
}
