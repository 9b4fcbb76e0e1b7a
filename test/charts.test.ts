import { describe, expect, it } from 'vitest';
import { barChart, fillDays, lastDays, niceMax } from '../src/http/charts.js';

describe('SVG bar chart geometry', () => {
  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 1, 3, 7, 12, 99, 101].map(niceMax)).toEqual([1, 1, 5, 10, 20, 100, 200]);
  });

  it('labels only whole-number gridlines', () => {
    expect(barChart(['a'], [{ name: 'n', className: 'c', values: [1] }]).gridlines.map((g) => g.value)).toEqual([0, 1]);
    expect(barChart(['a'], [{ name: 'n', className: 'c', values: [7] }]).gridlines.map((g) => g.value)).toEqual([0, 5, 10]);
  });

  it('draws bar heights in proportion to the values, inside the plot', () => {
    const chart = barChart(['d1', 'd2'], [{ name: 'n', className: 'c', values: [5, 10] }]);
    const [a, b] = chart.bars;
    expect(b!.height).toBeCloseTo(chart.plot.height);
    expect(a!.height).toBeCloseTo(chart.plot.height / 2);
    expect(a!.y + a!.height).toBeCloseTo(chart.plot.top + chart.plot.height);
    expect(chart.total).toBe(15);
    expect(chart.bars.every((bar) => bar.x >= chart.plot.left && bar.x + bar.width <= chart.plot.left + chart.plot.width + 0.01)).toBe(true);
  });

  it('lists the last N UTC days and fills missing ones with zero', () => {
    const days = lastDays(new Date('2026-03-02T23:59:00Z'), 3);
    expect(days).toEqual(['2026-02-28', '2026-03-01', '2026-03-02']);
    expect(fillDays(days, [{ day: '2026-03-01', n: 4 }])).toEqual([0, 4, 0]);
  });
});
