import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ALPHA_MAX, ALPHA_MIN, clampAlpha, curveAtLayers, roundAlpha } from './alpha.ts';
import { AlphaNumber } from './fields.tsx';
import { evaluateGradient } from '../../core/recipe.ts';
import { formatNumber } from '../format.ts';

const CHART_HEIGHT = 190;
/** How close (CSS pixels) a press must be to a control point to drag it. */
const GRAB_RADIUS = 14;
const ACCENT = '#2f5fd0';
const POINT = '#d0542f';
/** The diagnostics' ‖τ‖ overlay: muted, so the α line stays what the eye follows. */
const TAU = '#98a2b3';

/**
 * A per-layer α curve: control points spread evenly from the first layer to the last, interpolated linearly
 * (mergekit's gradient list). Points can be dragged up and down on the chart or typed in the list below it.
 */
export function AlphaCurve({ points, numLayers, onChange, testid, tauNorms }: {
  points: number[];
  numLayers: number;
  onChange: (points: number[]) => void;
  testid: string;
  /** ‖τ‖ per layer once the diagnostics are computed: drawn on a second axis. */
  tauNorms?: (number | null)[] | null;
}) {
  const setPoint = (k: number, v: number) => onChange(points.map((p, i) => (i === k ? v : p)));
  // Adding a point keeps the curve's shape: the new points are samples of the current curve.
  const addPoint = () => onChange(Array.from({ length: points.length + 1 }, (_, i) => roundAlpha(evaluateGradient(points, i / points.length))));
  const removePoint = (k: number) => onChange(points.filter((_, i) => i !== k));
  return (
    <div className="curve" data-testid={testid}>
      <CurveChart points={points} numLayers={numLayers} onPoint={setPoint} tauNorms={tauNorms ?? null} />
      <p className="muted small curve-caption">
        α per layer over {numLayers} layer{numLayers === 1 ? '' : 's'}: the line is what each layer gets, the orange dots are the control points (drag them up or down).
        {tauNorms && <span data-testid="curve-tau-caption"> The dashed grey line is ‖τ‖ per layer from the diagnostics (right axis): where it is high, α changes cp the most.</span>}
      </p>
      <ol className="curve-points" aria-label="Control points">
        {points.map((p, k) => (
          <li key={k}>
            <span className="muted small">{pointPosition(k, points.length)}</span>
            <AlphaNumber value={p} onChange={(v) => setPoint(k, v)} label={`Control point ${k + 1} of ${points.length}`} testid={`curve-point-${k}`} />
            <button type="button" className="icon-button" aria-label={`Remove control point ${k + 1}`} disabled={points.length <= 2} onClick={() => removePoint(k)}>
              ×
            </button>
          </li>
        ))}
      </ol>
      <button type="button" className="small-button" data-testid="curve-add-point" onClick={addPoint}>
        + Add a control point
      </button>
    </div>
  );
}

function pointPosition(k: number, n: number): string {
  if (k === 0) return 'first layer';
  if (k === n - 1) return 'last layer';
  return `${Math.round((k / (n - 1)) * 100)}% depth`;
}

/** uPlot needs one x array for all series: layer indices and control-point positions, merged. */
function chartData(points: number[], numLayers: number, tauNorms: (number | null)[] | null): uPlot.AlignedData {
  const last = Math.max(1, numLayers - 1);
  const layerAlpha = curveAtLayers(points, numLayers);
  const rows = new Map<number, [number | null, number | null]>();
  const key = (x: number) => Math.round(x * 1e9) / 1e9;
  layerAlpha.forEach((a, i) => rows.set(key(i), [a, null]));
  points.forEach((p, k) => {
    const x = key((k / (points.length - 1)) * last);
    rows.set(x, [rows.get(x)?.[0] ?? null, p]);
  });
  const xs = [...rows.keys()].sort((a, b) => a - b);
  const data: uPlot.AlignedData = [xs, xs.map((x) => rows.get(x)![0]), xs.map((x) => rows.get(x)![1])];
  return tauNorms ? [...data, xs.map((x) => (Number.isInteger(x) ? (tauNorms[x] ?? null) : null))] : data;
}

function CurveChart({ points, numLayers, onPoint, tauNorms }: { points: number[]; numLayers: number; onPoint: (k: number, v: number) => void; tauNorms: (number | null)[] | null }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // The pointer handlers live as long as the chart; they read the newest props through this.
  const latest = useRef({ points, numLayers, onPoint, tauNorms });
  latest.current = { points, numLayers, onPoint, tauNorms };
  const overlay = tauNorms !== null;

  useEffect(() => {
    const el = box.current!;
    const last = Math.max(1, numLayers - 1);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: () => [-0.04 * last, last * 1.04] },
        y: { range: (_u, min, max) => [Math.min(ALPHA_MIN, min), Math.max(ALPHA_MAX, max)] },
      },
      axes: [
        { label: 'layer', size: 36, labelSize: 18, incrs: [1, 2, 5, 10, 20, 50, 100], values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
        { label: 'α', size: 44, labelSize: 18, values: (_u, ticks) => ticks.map((t) => formatNumber(Number(t.toFixed(2)))) },
      ],
      series: [
        {},
        { label: 'α per layer', stroke: ACCENT, width: 2, spanGaps: true, points: { show: true, size: 5, fill: ACCENT } },
        { label: 'control points', stroke: POINT, width: 0, paths: () => null, spanGaps: false, points: { show: true, size: 11, fill: POINT, stroke: '#fff', width: 2 } },
      ],
    };
    if (overlay) {
      opts.scales!.tau = { range: (_u, _min, max) => [0, max && max > 0 ? max * 1.1 : 1] };
      opts.axes!.push({ scale: 'tau', side: 1, label: '‖τ‖ per layer', stroke: TAU, size: 50, labelSize: 18, grid: { show: false }, values: (_u, ticks) => ticks.map((t) => String(Number(t.toPrecision(3)))) });
      opts.series.push({ label: '‖τ‖', scale: 'tau', stroke: TAU, width: 1.5, dash: [5, 4], spanGaps: true, points: { show: true, size: 5, fill: TAU } });
    }
    const u = new uPlot(opts, chartData(latest.current.points, numLayers, latest.current.tauNorms), el);
    plot.current = u;

    const xOf = (k: number, n: number) => (k / (n - 1)) * last;
    const nearest = (e: PointerEvent): number => {
      const rect = u.over.getBoundingClientRect();
      const px = e.clientX - rect.left;
      const py = e.clientY - rect.top;
      const pts = latest.current.points;
      let best = -1;
      let bestDistance = GRAB_RADIUS;
      pts.forEach((p, k) => {
        const d = Math.hypot(u.valToPos(xOf(k, pts.length), 'x') - px, u.valToPos(p, 'y') - py);
        if (d < bestDistance) {
          best = k;
          bestDistance = d;
        }
      });
      return best;
    };
    let dragging = -1;
    const down = (e: PointerEvent) => {
      dragging = nearest(e);
      if (dragging < 0) return;
      u.over.setPointerCapture(e.pointerId);
      e.preventDefault();
    };
    const move = (e: PointerEvent) => {
      if (dragging < 0) {
        u.over.style.cursor = nearest(e) >= 0 ? 'ns-resize' : '';
        return;
      }
      const rect = u.over.getBoundingClientRect();
      const value = clampAlpha(Math.round(u.posToVal(e.clientY - rect.top, 'y') * 100) / 100);
      if (value !== latest.current.points[dragging]) latest.current.onPoint(dragging, value);
    };
    const up = () => {
      dragging = -1;
    };
    u.over.addEventListener('pointerdown', down);
    u.over.addEventListener('pointermove', move);
    u.over.addEventListener('pointerup', up);
    u.over.addEventListener('pointercancel', up);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: CHART_HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [numLayers, overlay]);

  useEffect(() => {
    plot.current?.setData(chartData(points, numLayers, tauNorms));
  }, [points, numLayers, tauNorms]);

  return (
    <div
      ref={box}
      className="curve-chart"
      data-testid="curve-chart"
      data-tau-norms={tauNorms?.map((t) => (t === null ? '' : t.toPrecision(4))).join(',')}
      role="img"
      aria-label={`α per layer: ${curveAtLayers(points, numLayers).map((a) => Number(a.toFixed(3))).join(', ')}`}
    />
  );
}
