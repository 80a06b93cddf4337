/**
 * The reduction at the heart of the chat-vector statistics, behind a small interface so that a GPU
 * reduction can replace the CPU reference. Rules, also written into every report (`STATS_RULES`):
 *
 * - τ = chat − base and d = cp − base are computed in f64 from exact f32 decodes; sums run in f64
 *   over blocks of STATS_BLOCK elements, and block sums are added with compensation.
 * - An element where base, chat or cp is NaN or ±Inf is left out of every sum and count and is
 *   counted in `nonFinite` instead.
 * - Sign agreement counts only elements where τ and d are both nonzero: `sameSign` of `bothNonzero`.
 *   An element where either is zero has no direction to agree with, so it counts for neither.
 */

/** Totals over a set of compared elements (one tensor, or a group of tensors). Plain JSON. */
export interface StatsSums {
  /** Elements compared, including the non-finite ones. */
  elements: number;
  /** Elements left out because base, chat or cp is NaN or ±Inf there. */
  nonFinite: number;
  /** Σ τ² */
  tauSq: number;
  /** Σ d², d = cp − base */
  cpDeltaSq: number;
  /** Σ cp² */
  cpSq: number;
  /** Σ τ·d */
  dot: number;
  /** Elements where τ and d are both nonzero and have the same sign. */
  sameSign: number;
  /** Elements where τ and d are both nonzero. */
  bothNonzero: number;
}

export const STATS_RULES = {
  signAgreement: 'sameSign / bothNonzero: among elements where chat − base and cp − base are both nonzero, the share with the same sign; null when there are none',
  nonFinite: 'elements where base, chat or cp is NaN or ±Inf are excluded from every sum and from the sign counts, and counted in nonFinite (elements includes them)',
  sharedRows: 'whole tensors when base, chat and cp have one shape; for vocabulary tensors whose row counts differ, the rows all three share',
  precision: 'differences, squares and products in f64 from exact f32 decodes; summed in f64 over blocks of 256 elements at fixed positions, the block sums added with compensation (TwoSum), so chunking does not change a bit',
} as const;

/**
 * Accumulates the statistics of one tensor at a time from aligned f32 chunks (element i of base,
 * chat and cp is the same element of the tensor), given in element order.
 * The CPU reference is `CpuStatsAccumulator`; a GPU implementation may work asynchronously.
 */
export interface StatsAccumulator {
  /** Add the first `count` elements of the three arrays; they may be reused once the returned promise settles. */
  add(base: Float32Array, chat: Float32Array, cp: Float32Array, count: number): void | Promise<void>;
  /** The totals of everything added since the last `take`, and a fresh start for the next tensor. */
  take(): StatsSums | Promise<StatsSums>;
}

/** Elements per block: summed plainly in f64, then the block sum is added with compensation. */
export const STATS_BLOCK = 256;

/** Running state of the CPU reduction. */
export interface StatsState {
  elements: number;
  nonFinite: number;
  sameSign: number;
  bothNonzero: number;
  /** [Σ τ², Σ d², Σ cp², Σ τ·d] over finished blocks, each as hi at 2k and its compensation lo at 2k + 1. */
  sums: Float64Array;
  /** The same four sums over the block in progress (elements since the last multiple of STATS_BLOCK). */
  block: Float64Array;
}

export function newStatsState(): StatsState {
  return { elements: 0, nonFinite: 0, sameSign: 0, bothNonzero: 0, sums: new Float64Array(8), block: new Float64Array(4) };
}

/**
 * Add `count` aligned elements to `state`. This is the streaming entry point: any pass that already
 * has decoded f32 chunks of base, chat and cp (the merge) can call it. Blocks start at fixed element
 * indices and carry over between calls, so the result depends only on the elements and their order,
 * not on how they are cut into chunks.
 */
export function accumulateChunk(state: StatsState, base: Float32Array, chat: Float32Array, cp: Float32Array, count: number): void {
  const s = state.sums, blk = state.block;
  let tauSq = blk[0], dSq = blk[1], cpSq = blk[2], dot = blk[3];
  let pos = state.elements % STATS_BLOCK, nonFinite = 0, same = 0, both = 0;
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + STATS_BLOCK - pos);
    pos += end - i;
    for (; i < end; i++) {
      const b = base[i], c = chat[i], p = cp[i];
      // x − x is 0 for every finite x and NaN for NaN and ±Inf.
      if (b - b + (c - c) + (p - p) !== 0) {
        nonFinite++;
        continue;
      }
      const tau = c - b, d = p - b, q = tau * d;
      tauSq += tau * tau;
      dSq += d * d;
      cpSq += p * p;
      dot += q;
      // τ·d cannot underflow (|τ|, |d| ≥ 2^-149), so its sign is the sign agreement; `+` keeps this free of branches.
      same += +(q > 0);
      both += +(q !== 0);
    }
    if (pos === STATS_BLOCK) {
      twoSumInto(s, 0, tauSq);
      twoSumInto(s, 2, dSq);
      twoSumInto(s, 4, cpSq);
      twoSumInto(s, 6, dot);
      tauSq = dSq = cpSq = dot = 0;
      pos = 0;
    }
  }
  blk[0] = tauSq; blk[1] = dSq; blk[2] = cpSq; blk[3] = dot;
  state.elements += count;
  state.nonFinite += nonFinite;
  state.sameSign += same;
  state.bothNonzero += both;
}

/** hi += x with its rounding error recovered exactly (Knuth's TwoSum) and added to lo. */
function twoSumInto(s: Float64Array, k: number, x: number): void {
  const hi = s[k], t = hi + x, z = t - hi;
  s[k + 1] += hi - (t - z) + (x - z);
  s[k] = t;
}

/** The totals of a state, the block in progress included (hi + lo rounded once). */
export function stateSums(state: StatsState): StatsSums {
  const s = Float64Array.from(state.sums);
  for (let k = 0; k < 4; k++) twoSumInto(s, 2 * k, state.block[k]);
  return {
    elements: state.elements, nonFinite: state.nonFinite,
    tauSq: s[0] + s[1], cpDeltaSq: s[2] + s[3], cpSq: s[4] + s[5], dot: s[6] + s[7],
    sameSign: state.sameSign, bothNonzero: state.bothNonzero,
  };
}

/** The CPU reference accumulator. */
export class CpuStatsAccumulator implements StatsAccumulator {
  private state = newStatsState();
  add(base: Float32Array, chat: Float32Array, cp: Float32Array, count: number): void {
    accumulateChunk(this.state, base, chat, cp, count);
  }
  take(): StatsSums {
    const out = stateSums(this.state);
    this.state = newStatsState();
    return out;
  }
}
