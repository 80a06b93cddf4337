import { useEffect, useMemo, useRef, useState } from 'react';
import type { ChatVectorStats } from '../../core/stats/stats-report.ts';
import { downloadCanvasPng, exportBaseName } from './export.ts';
import { cellAt, divergingColor, EMPTY_CELL, heatmapData, heatmapLayout, rowTop, textColorOn, type HeatCell, type HeatmapData, type HeatmapLayout } from './heatmap.ts';
import { sig4 } from './numbers.ts';

const TEXT = '#1d2330';
const MUTED = '#5d6678';
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** cos(τ, cp − base) per layer (rows) and module type (columns) on a canvas, with a tooltip per cell. */
export function CosineHeatmap({ stats }: { stats: ChatVectorStats }) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const [stretch, setStretch] = useState(false);
  const [hover, setHover] = useState<{ row: number; col: number; x: number; y: number } | null>(null);
  const data = useMemo(() => heatmapData(stats), [stats]);
  const rowCount = data.rows.length, colCount = data.modules.length;
  const layout = useMemo(() => heatmapLayout(width, rowCount, colCount), [width, rowCount, colCount]);
  const largest = Math.max(1e-9, ...data.rows.flat().map((c) => Math.abs(c.cosine ?? 0)));
  const range = stretch ? largest : 1;

  useEffect(() => {
    const el = box.current!;
    const resize = new ResizeObserver(() => setWidth(el.clientWidth));
    resize.observe(el);
    setWidth(el.clientWidth);
    return () => resize.disconnect();
  }, []);

  useEffect(() => {
    if (width > 0) draw(canvas.current!, data, layout, range, hover);
  }, [data, layout, range, hover, width]);

  const move = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    const cell = cellAt(layout, x, y, rowCount, colCount);
    setHover(cell ? { ...cell, x, y } : null);
  };
  const cell = hover ? data.rows[hover.row][hover.col] : null;
  const png = () => void downloadCanvasPng(canvas.current!, `${exportBaseName(stats)}-cosine.png`, `Chat vector ${stats.vector + 1}: cos(τ, cp − base) per layer and module`);

  return (
    <figure className="diag-figure" data-testid="diag-heatmap">
      <figcaption>
        <span>Direction of the chat vector against continual pretraining</span>
        <label className="diag-scale">
          Colours{' '}
          <select data-testid="diag-heatmap-scale" value={stretch ? 'stretch' : 'full'} onChange={(e) => setStretch(e.target.value === 'stretch')}>
            <option value="full">from −1 to 1</option>
            <option value="stretch">stretched to ±{sig4(largest)}</option>
          </select>
        </label>
        <button type="button" className="small-button" data-testid="diag-heatmap-png" onClick={png}>
          PNG
        </button>
      </figcaption>
      <div ref={box} className="diag-heatmap-box">
        <canvas
          ref={canvas}
          data-testid="diag-heatmap-canvas"
          data-rows={rowCount}
          data-cols={colCount}
          data-left={layout.left}
          data-top={layout.top}
          data-cell-width={layout.cellWidth}
          data-row-height={layout.rowHeight}
          data-gap={layout.gap}
          role="img"
          aria-label={`cos(τ, cp − base) for ${rowCount - 1} layers × ${colCount} module types; hover a cell for its values`}
          onPointerMove={move}
          onPointerLeave={() => setHover(null)}
        />
        {hover && cell && <Tooltip cell={cell} x={hover.x} y={hover.y} width={layout.width} />}
      </div>
    </figure>
  );
}

function Tooltip({ cell, x, y, width }: { cell: HeatCell; x: number; y: number; width: number }) {
  const where = cell.layer === null ? `all layers · ${cell.module}` : `layer ${cell.layer} · ${cell.module}`;
  // Beside the pointer, flipped to its left near the right edge.
  const style = x > width - 240 ? { right: width - x + 14, top: y + 14 } : { left: x + 14, top: y + 14 };
  return (
    <div className="diag-tooltip" style={style} data-testid="diag-heatmap-tooltip" data-layer={cell.layer ?? 'all'} data-module={cell.module}>
      <strong>{where}</strong>
      {cell.tensors === 0 ? (
        <span className="muted">no {cell.module} tensor {cell.layer === null ? 'in the model' : 'in this layer'}</span>
      ) : (
        <dl>
          <dt>cos(τ, cp − base)</dt>
          <dd data-testid="diag-tooltip-cosine">{sig4(cell.cosine)}</dd>
          <dt>‖τ‖</dt>
          <dd data-testid="diag-tooltip-tau">{sig4(cell.tauNorm)}</dd>
          <dt>tensors</dt>
          <dd>{cell.tensors}</dd>
        </dl>
      )}
    </div>
  );
}

function draw(canvas: HTMLCanvasElement, data: HeatmapData, layout: HeatmapLayout, range: number, hover: { row: number; col: number } | null): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(layout.width * ratio);
  canvas.height = Math.round(layout.height * ratio);
  canvas.style.width = `${layout.width}px`;
  canvas.style.height = `${layout.height}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, layout.width, layout.height);
  const { left, top, cellWidth: cw, rowHeight: rh } = layout;
  const rowCount = data.rows.length;

  // Column heads, and row labels thinned out when rows are too short for every one.
  ctx.font = `600 12px ${FONT}`;
  ctx.fillStyle = TEXT;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  data.modules.forEach((m, j) => ctx.fillText(m, left + (j + 0.5) * cw, top - 6));
  ctx.textAlign = 'left';
  ctx.fillStyle = MUTED;
  ctx.fillText('layer', 4, top - 6);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.font = `12px ${FONT}`;
  const every = Math.ceil(14 / rh);
  data.rows.forEach((row, r) => {
    const summary = r === rowCount - 1;
    if (!summary && r % every !== 0) return;
    ctx.fillStyle = summary ? TEXT : MUTED;
    ctx.fillText(summary ? 'all' : String(row[0].layer), left - 8, rowTop(layout, r, rowCount) + rh / 2);
  });

  ctx.textAlign = 'center';
  ctx.font = `${rh >= 24 ? 12 : 11}px ${FONT}`;
  data.rows.forEach((row, r) => {
    const y = rowTop(layout, r, rowCount);
    row.forEach((cell, j) => {
      const x = left + j * cw;
      ctx.fillStyle = cell.cosine === null ? EMPTY_CELL : divergingColor(cell.cosine, range);
      ctx.fillRect(x, y, cw, rh);
      if (layout.showValues && cell.cosine !== null) {
        ctx.fillStyle = textColorOn(cell.cosine, range);
        ctx.fillText(sig2(cell.cosine), x + cw / 2, y + rh / 2 + 0.5);
      }
    });
  });
  // Thin white lines between cells keep neighbours of one colour apart.
  ctx.strokeStyle = '#ffffff';
  ctx.lineWidth = rh >= 12 ? 1 : 0.5;
  data.rows.forEach((row, r) => row.forEach((_, j) => ctx.strokeRect(left + j * cw, rowTop(layout, r, rowCount), cw, rh)));
  if (hover) {
    ctx.strokeStyle = TEXT;
    ctx.lineWidth = 2;
    ctx.strokeRect(left + hover.col * cw + 1, rowTop(layout, hover.row, rowCount) + 1, cw - 2, rh - 2);
  }
  drawLegend(ctx, layout, range);
}

/** The colour bar with its ends explained, and the grey of cells without a tensor. */
function drawLegend(ctx: CanvasRenderingContext2D, layout: HeatmapLayout, range: number): void {
  const x0 = layout.left, y = layout.legendTop, w = Math.min(320, layout.width - layout.left - 200), h = 12;
  const gradient = ctx.createLinearGradient(x0, 0, x0 + w, 0);
  for (let k = 0; k <= 20; k++) gradient.addColorStop(k / 20, divergingColor(-range + (2 * range * k) / 20, range));
  ctx.fillStyle = gradient;
  ctx.fillRect(x0, y, w, h);
  ctx.strokeStyle = '#dde1e8';
  ctx.lineWidth = 1;
  ctx.strokeRect(x0, y, w, h);
  ctx.font = `11px ${FONT}`;
  ctx.textBaseline = 'top';
  ctx.fillStyle = TEXT;
  [-1, -0.5, 0, 0.5, 1].forEach((f) => {
    const x = x0 + ((f + 1) / 2) * w;
    ctx.fillRect(x - 0.5, y + h, 1, 4);
    ctx.textAlign = f === -1 ? 'left' : f === 1 ? 'right' : 'center';
    ctx.fillText(f === 0 ? '0' : sig2(f * range), x, y + h + 5);
  });
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'left';
  ctx.fillText('← τ undoes cp − base', x0, y + h + 20);
  ctx.textAlign = 'right';
  ctx.fillText('same direction →', x0 + w, y + h + 20);
  const gx = x0 + w + 28;
  ctx.fillStyle = EMPTY_CELL;
  ctx.fillRect(gx, y, 18, h);
  ctx.fillStyle = TEXT;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText('no such tensor, or τ or cp − base is 0', gx + 24, y + h / 2);
}

/** Two significant digits, for the numbers inside cells. */
function sig2(v: number): string {
  const s = Number(v.toPrecision(2)).toString();
  return s.startsWith('-') ? `−${s.slice(1)}` : s;
}
