import { layerIndex, MODULE_TYPES, moduleType } from '../arch.ts';
import { STATS_RULES, type StatsSums } from './stats-accumulator.ts';
import type { NotCompared, StatsTargets } from './stats-targets.ts';

/** The statistics of a set of elements. Ratios are null where their denominator is 0. */
export interface StatsMetrics {
  elements: number;
  /** ‖τ‖₂, τ = chat − base */
  tauNorm: number;
  /** ‖cp − base‖₂ */
  cpDeltaNorm: number;
  /** ‖cp‖₂ */
  cpNorm: number;
  /** ‖τ‖ / ‖cp‖ */
  relMagnitude: number | null;
  /** cos(τ, cp − base) */
  cosine: number | null;
  /** sameSign / bothNonzero (see STATS_RULES.signAgreement) */
  signAgreement: number | null;
  sameSign: number;
  bothNonzero: number;
  nonFinite: number;
}

export interface TensorStats extends StatsMetrics {
  name: string;
  layer: number | null;
  module: string;
  /** What the merge does with the tensor and why (from the plan). */
  action: 'merge' | 'copy';
  reason: string;
  /** Rows compared when only the rows shared by base, chat and cp are (vocabulary tensors); else null. */
  sharedRows: number | null;
}

export interface GroupStats extends StatsMetrics {
  tensors: number;
}

export interface ChatVectorStats {
  /** Which chat vector of the recipe (0-based). */
  vector: number;
  rules: typeof STATS_RULES;
  /** Every compared tensor together. */
  total: GroupStats;
  tensors: TensorStats[];
  notCompared: NotCompared[];
  /** Tensors with a layer index, by layer, ascending. */
  layers: (GroupStats & { layer: number })[];
  /** By module type (q, k, v, o, gate, up, down, norm, embedding, other), in that order. */
  modules: (GroupStats & { module: string })[];
  /** cos(τ, cp − base) per layer (rows) and module type (columns); null where a layer has no such tensor. */
  matrix: { layers: number[]; modules: string[]; cosine: (number | null)[][] };
}

/** Metrics from totals; norms are √Σ squares, the cosine is Σ τ·d / (‖τ‖·‖d‖). */
export function statsMetrics(s: StatsSums): StatsMetrics {
  const tauNorm = Math.sqrt(s.tauSq), cpDeltaNorm = Math.sqrt(s.cpDeltaSq), cpNorm = Math.sqrt(s.cpSq);
  // Rounding can put |cos| a hair above 1 when τ and d are parallel.
  const cosine = tauNorm > 0 && cpDeltaNorm > 0 ? Math.max(-1, Math.min(1, s.dot / tauNorm / cpDeltaNorm)) : null;
  return {
    elements: s.elements,
    tauNorm, cpDeltaNorm, cpNorm,
    relMagnitude: cpNorm > 0 ? tauNorm / cpNorm : null,
    cosine,
    signAgreement: s.bothNonzero > 0 ? s.sameSign / s.bothNonzero : null,
    sameSign: s.sameSign,
    bothNonzero: s.bothNonzero,
    nonFinite: s.nonFinite,
  };
}

/** Totals of several tensors; the f64 sums are added with Neumaier compensation, so the order of a few thousand tensors does not matter. */
class GroupSums {
  tensors = 0;
  private readonly counts = { elements: 0, nonFinite: 0, sameSign: 0, bothNonzero: 0 };
  private readonly hi = new Float64Array(4);
  private readonly lo = new Float64Array(4);

  add(s: StatsSums): void {
    this.tensors++;
    for (const k of ['elements', 'nonFinite', 'sameSign', 'bothNonzero'] as const) this.counts[k] += s[k];
    [s.tauSq, s.cpDeltaSq, s.cpSq, s.dot].forEach((x, i) => {
      const t = this.hi[i] + x;
      this.lo[i] += Math.abs(this.hi[i]) >= Math.abs(x) ? this.hi[i] - t + x : x - t + this.hi[i];
      this.hi[i] = t;
    });
  }

  metrics(): GroupStats {
    const v = (i: number) => this.hi[i] + this.lo[i];
    return { tensors: this.tensors, ...statsMetrics({ ...this.counts, tauSq: v(0), cpDeltaSq: v(1), cpSq: v(2), dot: v(3) }) };
  }
}

const MODULE_ORDER = [...MODULE_TYPES.map(([m]) => m), 'other'];

/** The report: `sums[i]` are the totals of `targets.compared[i]`. */
export function buildStatsReport(targets: StatsTargets, sums: StatsSums[]): ChatVectorStats {
  if (sums.length !== targets.compared.length) throw new Error(`internal: ${sums.length} results for ${targets.compared.length} tensors`);
  const total = new GroupSums();
  const byLayer = new Map<number, GroupSums>();
  const byModule = new Map<string, GroupSums>();
  const cells = new Map<string, GroupSums>();
  const group = <K>(map: Map<K, GroupSums>, key: K) => {
    let g = map.get(key);
    if (!g) map.set(key, (g = new GroupSums()));
    return g;
  };
  const tensors = targets.compared.map((t, i): TensorStats => {
    const layer = layerIndex(t.name), module = moduleType(t.name);
    total.add(sums[i]);
    group(byModule, module).add(sums[i]);
    if (layer !== null) {
      group(byLayer, layer).add(sums[i]);
      group(cells, `${layer}/${module}`).add(sums[i]);
    }
    return { name: t.name, layer, module, action: t.action, reason: t.reason, sharedRows: t.sharedRows, ...statsMetrics(sums[i]) };
  });
  const layers = [...byLayer.keys()].sort((a, b) => a - b);
  const modules = MODULE_ORDER.filter((m) => byModule.has(m));
  const matrixModules = modules.filter((m) => layers.some((l) => cells.has(`${l}/${m}`)));
  return {
    vector: targets.vector,
    rules: STATS_RULES,
    total: total.metrics(),
    tensors,
    notCompared: targets.notCompared,
    layers: layers.map((layer) => ({ layer, ...byLayer.get(layer)!.metrics() })),
    modules: modules.map((module) => ({ module, ...byModule.get(module)!.metrics() })),
    matrix: { layers, modules: matrixModules, cosine: layers.map((l) => matrixModules.map((m) => cells.get(`${l}/${m}`)?.metrics().cosine ?? null)) },
  };
}
