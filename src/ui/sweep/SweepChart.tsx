import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** A compared (saved) sweep is drawn dashed. */
  dashed?: boolean;
}

const HEIGHT = 190;
const AXIS_FONT = '12px system-ui, sans-serif';
const LABEL_FONT = '600 12px system-ui, sans-serif';

/**
 * One metric against α. Series may come from sweeps with different α grids: `xs` is the union of their
 * α values and each series has a value (or null) at each of them.
 */
export function SweepChart({ id, title, xs, series, unit, range }: { id: string; title: string; xs: number[]; series: ChartSeries[]; unit?: '%'; range?: [number, number] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const format = (v: number | null) => (v === null || v === undefined ? '—' : unit === '%' ? `${Math.round(v * 1000) / 10}%` : String(Number(v.toPrecision(4))));
    const opts: uPlot.Options = {
      width: Math.max(220, el.clientWidth),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false }, points: { size: 8 } },
      legend: { live: true },
      scales: { x: { time: false }, y: range ? { range: () => range } : { range: (_u, min, max) => [Math.min(0, min ?? 0), max && max > 0 ? max * 1.1 : 1] } },
      axes: [
        { label: 'α', font: AXIS_FONT, labelFont: LABEL_FONT, size: 32, labelSize: 16 },
        { font: AXIS_FONT, size: 52, values: (_u, ticks) => ticks.map((t) => format(t)) },
      ],
      series: [
        { label: 'α', value: (_u, v) => (v === null ? '—' : String(v)) },
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dashed ? [6, 4] : undefined, spanGaps: true, points: { show: true, size: 6, fill: s.color }, value: (_u: uPlot, v: number | null) => format(v) })),
      ],
    };
    const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const u = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(220, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [xs, series, unit, range]);
  return (
    <figure className="sweep-chart" data-testid={`sweep-chart-${id}`} data-series={series.length} data-points={xs.length}>
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${s.values.map((v) => (v === null ? '—' : v)).join(', ')}`).join('; ')} at α ${xs.join(', ')}`} />
    </figure>
  );
}
