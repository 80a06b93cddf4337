import { describe, expect, it } from 'vitest';
import { accumulateChunk, CpuStatsAccumulator, newStatsState, stateSums, STATS_BLOCK } from './stats-accumulator.ts';
import { statsMetrics } from './stats-report.ts';

const f32 = (...v: number[]) => Float32Array.from(v);

describe('CPU stats accumulator', () => {
  it('sign agreement counts only elements where τ and cp − base are both nonzero; NaN/Inf elements are left out', () => {
    //            τ:  0   1   0   ·    ·    −1  +1  −2
    //       cp−base: 0   2   1   ·    ·     1  +3  −1
    const base = f32(0, 1, 1, NaN, 1, 2, -0, 4);
    const chat = f32(0, 2, 1, 0, Infinity, 1, 1, 2);
    const cp = f32(0, 3, 2, 0, 1, 3, 3, 3);
    const acc = new CpuStatsAccumulator();
    acc.add(base, chat, cp, 8);
    expect(acc.take()).toEqual({ elements: 8, nonFinite: 2, tauSq: 0 + 1 + 0 + 1 + 1 + 4, cpDeltaSq: 0 + 4 + 1 + 1 + 9 + 1, cpSq: 0 + 9 + 4 + 9 + 9 + 9, dot: 2 - 1 + 3 + 2, sameSign: 3, bothNonzero: 4 });
    expect(acc.take()).toEqual({ elements: 0, nonFinite: 0, tauSq: 0, cpDeltaSq: 0, cpSq: 0, dot: 0, sameSign: 0, bothNonzero: 0 });
  });

  it('only the first `count` elements count', () => {
    const acc = new CpuStatsAccumulator();
    acc.add(f32(0, 0), f32(1, 100), f32(1, 100), 1);
    expect(acc.take()).toMatchObject({ elements: 1, tauSq: 1, dot: 1 });
  });

  it('compensated across blocks: 2^54 + 1000·1 is exact, where a plain f64 sum gives 2^54', () => {
    const n = STATS_BLOCK + 1000;
    const base = new Float32Array(n), chat = new Float32Array(n).fill(1, STATS_BLOCK), cp = new Float32Array(n);
    chat[0] = 2 ** 27; // alone in the first block
    let plain = 0;
    for (const c of chat) plain += c * c;
    expect(plain).toBe(2 ** 54);
    const s = newStatsState();
    accumulateChunk(s, base, chat, cp, n);
    expect(stateSums(s).tauSq).toBe(2 ** 54 + 1000);
  });

  it('the result does not depend on how the elements are cut into chunks, to the bit', () => {
    const n = 5000;
    const base = new Float32Array(n), chat = new Float32Array(n), cp = new Float32Array(n);
    let x = 12345;
    const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 2 ** ((x >>> 27) - 8);
    for (let i = 0; i < n; i++) [base[i], chat[i], cp[i]] = [next(), next(), next()];
    const whole = newStatsState();
    accumulateChunk(whole, base, chat, cp, n);
    for (const step of [1, 3, 64, 999]) {
      const s = newStatsState();
      for (let i = 0; i < n; i += step) {
        const k = Math.min(step, n - i);
        accumulateChunk(s, base.subarray(i), chat.subarray(i), cp.subarray(i), k);
      }
      expect(stateSums(s)).toEqual(stateSums(whole));
    }
  });

  it('metrics: ratios are null where their denominator is 0; |cosine| never exceeds 1', () => {
    const sums = { elements: 3, nonFinite: 0, tauSq: 0, cpDeltaSq: 4, cpSq: 0, dot: 0, sameSign: 0, bothNonzero: 0 };
    expect(statsMetrics(sums)).toEqual({ elements: 3, tauNorm: 0, cpDeltaNorm: 2, cpNorm: 0, relMagnitude: null, cosine: null, signAgreement: null, sameSign: 0, bothNonzero: 0, nonFinite: 0 });
    expect(statsMetrics({ ...sums, tauSq: 2, cpDeltaSq: 2, dot: 2 * (1 + 2 ** -52), cpSq: 8 })).toMatchObject({ cosine: 1, relMagnitude: Math.SQRT2 / Math.sqrt(8) });
  });
});
