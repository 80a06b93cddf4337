import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ChatVectorStats } from '../../core/stats/stats-report.ts';
import { downloadCanvasPng, exportBaseName } from './export.ts';
import { sig4 } from './numbers.ts';

const HEIGHT = 240;
export const TAU_COLOR = '#2f5fd0';
export const REL_COLOR = '#d0542f';
const TAU_FILL = 'rgba(47, 95, 208, 0.22)';
/** ‖τ‖ as bars (a size per layer), the ratio as a line over them. */
const bars = uPlot.paths.bars!({ size: [0.55, 56] });
const AXIS_FONT = '12px system-ui, sans-serif';
const LABEL_FONT = '600 12px system-ui, sans-serif';

const tickLabels = (_u: uPlot, ticks: number[]) => ticks.map((t) => String(Number(t.toPrecision(4))));

/** From 0, so that bars of different layers compare by height; a little headroom above the largest value. */
const fromZero = (_u: uPlot, _min: number | null, max: number | null): uPlot.Range.MinMax => [0, max && max > 0 ? max * 1.12 : 1];

/** ‖τ‖ (bars, left axis) and ‖τ‖/‖cp‖ (line, right axis) per layer, with the values of the hovered layer in the legend. */
export function LayerChart({ stats }: { stats: ChatVectorStats }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const layers = stats.layers;
    const first = layers[0]?.layer ?? 0, last = layers.at(-1)?.layer ?? 0;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false }, points: { size: 9 } },
      legend: { live: true },
      scales: {
        x: { time: false, range: () => [first - 0.5, last + 0.5] },
        tau: { range: fromZero },
        rel: { range: fromZero },
      },
      axes: [
        { label: 'layer', font: AXIS_FONT, labelFont: LABEL_FONT, size: 34, labelSize: 18, incrs: [1, 2, 5, 10, 20, 50, 100], values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
        { scale: 'tau', label: '‖τ‖', stroke: TAU_COLOR, font: AXIS_FONT, labelFont: LABEL_FONT, size: 56, labelSize: 18, values: tickLabels },
        { scale: 'rel', side: 1, label: '‖τ‖ / ‖cp‖', stroke: REL_COLOR, font: AXIS_FONT, labelFont: LABEL_FONT, size: 56, labelSize: 18, grid: { show: false }, values: tickLabels },
      ],
      series: [
        { label: 'layer', value: (_u, v) => (v === null ? '—' : String(v)) },
        { label: '‖τ‖', scale: 'tau', stroke: TAU_COLOR, fill: TAU_FILL, width: 1, paths: bars, points: { show: false }, value: (_u, v) => sig4(v) },
        { label: '‖τ‖ / ‖cp‖', scale: 'rel', stroke: REL_COLOR, width: 2, dash: [6, 4], points: { show: true, size: 7, fill: REL_COLOR }, value: (_u, v) => sig4(v) },
      ],
    };
    const data: uPlot.AlignedData = [layers.map((l) => l.layer), layers.map((l) => l.tauNorm), layers.map((l) => l.relMagnitude)];
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [stats]);

  const png = () => {
    const u = plot.current;
    if (!u) return;
    void downloadCanvasPng(u.ctx.canvas, `${exportBaseName(stats)}-layers.png`, `Chat vector ${stats.vector + 1}: ‖τ‖ and ‖τ‖/‖cp‖ per layer`, [
      { label: '‖τ‖ (bars, left axis)', color: TAU_COLOR },
      { label: '‖τ‖ / ‖cp‖ (line, right axis)', color: REL_COLOR },
    ]);
  };

  return (
    <figure className="diag-figure" data-testid="diag-layer-chart">
      <figcaption>
        <span>Size of the chat vector per layer</span>
        <button type="button" className="small-button" data-testid="diag-layer-png" onClick={png}>
          PNG
        </button>
      </figcaption>
      <div ref={box} className="diag-uplot" data-points={stats.layers.length} role="img" aria-label={`‖τ‖ per layer: ${stats.layers.map((l) => sig4(l.tauNorm)).join(', ')}; ‖τ‖/‖cp‖ per layer: ${stats.layers.map((l) => sig4(l.relMagnitude)).join(', ')}`} />
    </figure>
  );
}
