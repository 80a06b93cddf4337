import { describe, expect, it } from 'vitest';
import type { ChatVectorStats, GroupStats, TensorStats } from '../../core/stats/stats-report.ts';
import { cellAt, divergingColor, heatmapData, heatmapLayout, rowTop } from './heatmap.ts';
import { sig4 } from './numbers.ts';

const metrics = (tauNorm: number, cosine: number | null) => ({ elements: 4, tauNorm, cpDeltaNorm: 1, cpNorm: 2, relMagnitude: tauNorm / 2, cosine, signAgreement: 0.5, sameSign: 1, bothNonzero: 2, nonFinite: 0 });
const tensor = (name: string, layer: number | null, module: string, tauNorm: number, cosine: number | null): TensorStats => ({ name, layer, module, action: 'merge', reason: 'merged', sharedRows: null, ...metrics(tauNorm, cosine) });
const group = (tauNorm: number, cosine: number | null): GroupStats => ({ tensors: 1, ...metrics(tauNorm, cosine) });

/** Two layers; layer 1 has no k_proj, two norms in layer 0, an embedding without a layer. */
const stats = {
  vector: 0,
  total: group(9, 0.1),
  tensors: [
    tensor('model.embed_tokens.weight', null, 'embedding', 5, -0.5),
    tensor('model.layers.0.self_attn.q_proj.weight', 0, 'q', 3, 0.2),
    tensor('model.layers.0.self_attn.k_proj.weight', 0, 'k', 1, -0.1),
    tensor('model.layers.0.input_layernorm.weight', 0, 'norm', 3, 0.3),
    tensor('model.layers.0.post_attention_layernorm.weight', 0, 'norm', 4, 0.3),
    tensor('model.layers.1.self_attn.q_proj.weight', 1, 'q', 2, null),
  ],
  notCompared: [],
  layers: [],
  modules: [
    { module: 'q', ...group(3.6, 0.2) },
    { module: 'k', ...group(1, -0.1) },
    { module: 'norm', ...group(5, 0.3) },
    { module: 'embedding', ...group(5, -0.5) },
  ],
  matrix: { layers: [0, 1], modules: ['q', 'k', 'norm'], cosine: [[0.2, -0.1, 0.3], [null, null, null]] },
} as unknown as ChatVectorStats;

describe('cosine heatmap', () => {
  it('has the nine module columns, a row per layer and a summary row; ‖τ‖ of a cell is √Σ ‖τ_i‖²', () => {
    const data = heatmapData(stats);
    expect(data.modules).toEqual(['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'norm', 'embedding']);
    expect(data.rows.map((r) => r[0].layer)).toEqual([0, 1, null]);
    const cell = (r: number, m: string) => data.rows[r][data.modules.indexOf(m)];
    expect(cell(0, 'norm')).toEqual({ layer: 0, module: 'norm', cosine: 0.3, tauNorm: 5, tensors: 2 });
    expect(cell(0, 'v')).toEqual({ layer: 0, module: 'v', cosine: null, tauNorm: null, tensors: 0 });
    // A tensor whose cosine is undefined (τ = 0 or cp = base) still counts and has a ‖τ‖.
    expect(cell(1, 'q')).toEqual({ layer: 1, module: 'q', cosine: null, tauNorm: 2, tensors: 1 });
    expect(cell(0, 'embedding').tensors).toBe(0);
    expect(cell(2, 'embedding')).toEqual({ layer: null, module: 'embedding', cosine: -0.5, tauNorm: 5, tensors: 1 });
  });

  it('colours: red at −1, near-white at 0, blue at 1, linear between stops, clamped, stretched by the range', () => {
    expect(divergingColor(-1)).toBe('rgb(178, 24, 43)');
    expect(divergingColor(0)).toBe('rgb(247, 247, 247)');
    expect(divergingColor(1)).toBe('rgb(33, 102, 172)');
    expect(divergingColor(0.25)).toBe('rgb(175, 208, 227)');
    expect(divergingColor(-7)).toBe('rgb(178, 24, 43)');
    expect(divergingColor(0.05, 0.1)).toBe('rgb(103, 169, 207)');
  });

  it('finds the cell under a point; the gap before the summary row is no cell', () => {
    const layout = heatmapLayout(1000, 3, 9);
    expect(layout.rowHeight).toBe(28);
    const at = (col: number, y: number) => cellAt(layout, layout.left + (col + 0.5) * layout.cellWidth, y, 3, 9);
    expect(at(4, rowTop(layout, 1, 3) + 1)).toEqual({ row: 1, col: 4 });
    expect(at(8, rowTop(layout, 2, 3) + 1)).toEqual({ row: 2, col: 8 });
    expect(at(0, layout.top + 2 * layout.rowHeight + 1)).toBeNull();
    expect(at(9, rowTop(layout, 0, 3) + 1)).toBeNull();
    expect(cellAt(layout, layout.left - 1, layout.top + 1, 3, 9)).toBeNull();
    // 81 rows (80 layers and the summary) shrink to 6 px, without values written in.
    expect(heatmapLayout(1000, 81, 9)).toMatchObject({ rowHeight: 6, showValues: false });
  });

  it('writes four significant digits with a typographic minus', () => {
    expect([sig4(1.1123), sig4(-0.00096771), sig4(0.093), sig4(null)]).toEqual(['1.112', '−0.0009677', '0.09300', '—']);
  });
});
