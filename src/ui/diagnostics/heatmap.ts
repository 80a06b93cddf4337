/** The layer × module cosine heatmap as data and geometry; drawing is in CosineHeatmap.tsx. */
import { MODULE_TYPES } from '../../core/arch.ts';
import type { ChatVectorStats } from '../../core/stats/stats-report.ts';

/** Columns in this order, always (a model without one of them shows a grey column); `other` only when present. */
export const HEATMAP_MODULES = MODULE_TYPES.map(([m]) => m);

export interface HeatCell {
  /** null: the summary row (every tensor of the module, layer or not). */
  layer: number | null;
  module: string;
  /** cos(τ, cp − base); null where there is no such tensor, or τ or cp − base is 0. */
  cosine: number | null;
  /** ‖τ‖ over the cell's tensors; null where there are none. */
  tauNorm: number | null;
  tensors: number;
}

export interface HeatmapData {
  modules: string[];
  /** One row per layer, ascending, then the summary row. */
  rows: HeatCell[][];
}

export function heatmapData(stats: ChatVectorStats): HeatmapData {
  const modules = stats.modules.some((m) => m.module === 'other') ? [...HEATMAP_MODULES, 'other'] : HEATMAP_MODULES;
  const { matrix } = stats;
  // The cosine is core's (Σ dot over the cell); ‖τ‖ of a cell is √Σ ‖τ_i‖² of its tensors.
  const squares = new Map<string, { sum: number; tensors: number }>();
  for (const t of stats.tensors) {
    if (t.layer === null) continue;
    const key = `${t.layer}/${t.module}`;
    const cell = squares.get(key) ?? { sum: 0, tensors: 0 };
    cell.sum += t.tauNorm * t.tauNorm;
    cell.tensors++;
    squares.set(key, cell);
  }
  const rows = matrix.layers.map((layer, i) =>
    modules.map((module): HeatCell => {
      const j = matrix.modules.indexOf(module);
      const sq = squares.get(`${layer}/${module}`);
      return { layer, module, cosine: j < 0 ? null : matrix.cosine[i][j], tauNorm: sq ? Math.sqrt(sq.sum) : null, tensors: sq?.tensors ?? 0 };
    }),
  );
  const summary = modules.map((module): HeatCell => {
    const m = stats.modules.find((x) => x.module === module);
    return { layer: null, module, cosine: m?.cosine ?? null, tauNorm: m ? m.tauNorm : null, tensors: m?.tensors ?? 0 };
  });
  return { modules, rows: [...rows, summary] };
}

/** ColorBrewer RdBu, red for −1 (τ undoes cp's change) through near-white 0 to blue for +1 (same direction). */
const STOPS: [number, [number, number, number]][] = [
  [-1, [178, 24, 43]],
  [-0.5, [239, 138, 98]],
  [0, [247, 247, 247]],
  [0.5, [103, 169, 207]],
  [1, [33, 102, 172]],
];
export const EMPTY_CELL = '#c3c8d1';

/** The colour of `value` on a diverging scale over [−range, range] (clamped). */
export function divergingColor(value: number, range = 1): string {
  const x = Math.max(-1, Math.min(1, value / range));
  let k = 0;
  while (k < STOPS.length - 2 && x > STOPS[k + 1][0]) k++;
  const [x0, c0] = STOPS[k], [x1, c1] = STOPS[k + 1];
  const t = (x - x0) / (x1 - x0);
  const [r, g, b] = c0.map((c, i) => Math.round(c + (c1[i] - c) * t));
  return `rgb(${r}, ${g}, ${b})`;
}

/** Dark text on light cells, white on dark ones. */
export function textColorOn(value: number, range = 1): string {
  return Math.abs(value / range) > 0.6 ? '#ffffff' : '#1d2330';
}

export interface HeatmapLayout {
  width: number;
  height: number;
  /** The grid's left and top edges (CSS pixels). */
  left: number;
  top: number;
  cellWidth: number;
  rowHeight: number;
  /** Extra space above the summary row. */
  gap: number;
  /** Where the colour legend starts. */
  legendTop: number;
  /** Values are written into cells this big. */
  showValues: boolean;
}

const LEFT = 56, TOP = 26, RIGHT = 8, GAP = 8, LEGEND = 64;

/** Rows shrink with the number of layers (28 px for a few, down to 6 px), so an 80-layer model stays on screen. */
export function heatmapLayout(width: number, rowCount: number, colCount: number): HeatmapLayout {
  const rowHeight = Math.max(6, Math.min(28, Math.floor(560 / rowCount)));
  const cellWidth = Math.max(8, (width - LEFT - RIGHT) / colCount);
  const gridBottom = TOP + rowCount * rowHeight + GAP;
  return { width, height: gridBottom + LEGEND, left: LEFT, top: TOP, cellWidth, rowHeight, gap: GAP, legendTop: gridBottom + 18, showValues: rowHeight >= 18 && cellWidth >= 52 };
}

/** The top of row `r` (the last row, the summary, sits `gap` lower). */
export function rowTop(layout: HeatmapLayout, r: number, rowCount: number): number {
  return layout.top + r * layout.rowHeight + (r === rowCount - 1 ? layout.gap : 0);
}

/** The cell under a point, or null. */
export function cellAt(layout: HeatmapLayout, x: number, y: number, rowCount: number, colCount: number): { row: number; col: number } | null {
  const col = Math.floor((x - layout.left) / layout.cellWidth);
  if (col < 0 || col >= colCount) return null;
  for (let row = 0; row < rowCount; row++) {
    const top = rowTop(layout, row, rowCount);
    if (y >= top && y < top + layout.rowHeight) return { row, col };
  }
  return null;
}
