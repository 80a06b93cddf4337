import { describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, argmax, sampleNext, samplingDistribution, seededRng } from './sampling.ts';

/** Logits whose softmax is `probs` (ids 0…n−1). */
const fromProbs = (probs: number[]) => Float32Array.from(probs, (p) => Math.log(p));
// id:            0    1    2    3    4     5
const PROBS = [0.1, 0.4, 0.2, 0.2, 0.05, 0.05];

/** Returns the given values in turn. */
const fixedRng = (...values: number[]) => () => values.shift()!;

describe('greedy', () => {
  it('takes the largest logit, the lowest id among ties', () => {
    expect(sampleNext(Float32Array.of(1, 3, 3, 2), { greedy: true })).toBe(1);
    expect(sampleNext(Float32Array.of(-Infinity, -5, -5), { greedy: true })).toBe(1);
    expect(argmax(Float32Array.of(0, 0, 0))).toBe(0);
    expect(argmax(Float32Array.of(-1, Infinity, Infinity))).toBe(1);
  });

  it('temperature 0 is greedy; greedy ignores the sampling knobs and the rng', () => {
    const rng = () => { throw new Error('not called'); };
    expect(sampleNext(fromProbs(PROBS), { temperature: 0, rng })).toBe(1);
    expect(sampleNext(fromProbs(PROBS), { greedy: true, temperature: 5, topK: 3, topP: 0.1, rng })).toBe(1);
  });

  it('the repetition penalty applies before the argmax', () => {
    // 3 → 3/2 = 1.5 < 2: id 2 wins once id 1 was seen.
    expect(sampleNext(Float32Array.of(0, 3, 2), { greedy: true, repetitionPenalty: 2, previousIds: [1] })).toBe(2);
  });
});

describe('applyRepetitionPenalty', () => {
  it('divides positive logits, multiplies the others, once per seen id, in float32 like torch', () => {
    const logits = Float32Array.of(2, -1, 0, 0.3, 5, 7);
    const out = applyRepetitionPenalty(logits, [0, 1, 2, 3, 1, 0, 4, 4], 1.3);
    // numpy: np.float32(v) / np.float32(1.3) for v > 0, np.float32(v) * np.float32(1.3) otherwise
    expect(Array.from(out)).toEqual([1.5384615659713745, -1.2999999523162842, 0, 0.23076924681663513, 3.846153974533081, 7]);
    expect(Array.from(logits)).toEqual([2, -1, 0, Math.fround(0.3), 5, 7]); // the input is not modified
  });

  it('penalty 1 or no history is a no-op; bad values are errors', () => {
    const logits = Float32Array.of(1, 2);
    expect(applyRepetitionPenalty(logits, [0], 1)).toBe(logits);
    expect(applyRepetitionPenalty(logits, [], 1.5)).toBe(logits);
    expect(() => applyRepetitionPenalty(logits, [2], 1.5)).toThrow('a previous token id is outside the logits; expected 0 ≤ id < 2, found 2');
    expect(() => applyRepetitionPenalty(logits, [0], 0)).toThrow('repetition penalty must be a positive number; expected > 0 (1 = off), found 0');
  });
});

describe('samplingDistribution', () => {
  const dist = (opts: Parameters<typeof samplingDistribution>[1]) => {
    const d = samplingDistribution(fromProbs(PROBS), opts);
    return { ids: d.ids, probs: d.probs.map((p) => Number(p.toFixed(6))) };
  };

  it('without knobs: every token, most likely first, ties in id order', () => {
    expect(dist({})).toEqual({ ids: [1, 2, 3, 0, 4, 5], probs: [0.4, 0.2, 0.2, 0.1, 0.05, 0.05] });
  });

  it('top-k keeps the k most likely and anything tied with the k-th (as transformers does)', () => {
    expect(dist({ topK: 1 })).toEqual({ ids: [1], probs: [1] });
    expect(dist({ topK: 2 })).toEqual({ ids: [1, 2, 3], probs: [0.5, 0.25, 0.25] });
    expect(dist({ topK: 4 })).toEqual({ ids: [1, 2, 3, 0], probs: [0.444444, 0.222222, 0.222222, 0.111111] });
    expect(dist({ topK: 6 }).ids).toEqual([1, 2, 3, 0, 4, 5]);
    expect(dist({ topK: 100 }).ids).toEqual([1, 2, 3, 0, 4, 5]);
  });

  it('top-p keeps the smallest most-likely set reaching p, at least one token', () => {
    expect(dist({ topP: 0.3 })).toEqual({ ids: [1], probs: [1] });
    expect(dist({ topP: 0.55 })).toEqual({ ids: [1, 2], probs: [0.666667, 0.333333] });
    expect(dist({ topP: 0.7 })).toEqual({ ids: [1, 2, 3], probs: [0.5, 0.25, 0.25] });
    expect(dist({ topP: 0.95 })).toEqual({ ids: [1, 2, 3, 0, 4], probs: [0.421053, 0.210526, 0.210526, 0.105263, 0.052632] });
    expect(dist({ topP: 1e-9 }).ids).toEqual([1]);
  });

  it('temperature sharpens or flattens before the cuts; top-p sees the top-k renormalised', () => {
    // T = 0.5 squares the probabilities: 0.16, 0.04, 0.04, 0.01, 0.0025, 0.0025 over 0.255
    expect(dist({ temperature: 0.5 })).toEqual({ ids: [1, 2, 3, 0, 4, 5], probs: [0.627451, 0.156863, 0.156863, 0.039216, 0.009804, 0.009804] });
    expect(dist({ temperature: 0.5, topP: 0.7 }).ids).toEqual([1, 2]);
    expect(dist({ temperature: 1e6 }).probs.every((p) => Math.abs(p - 1 / 6) < 1e-5)).toBe(true);
    // top-k 3 leaves 0.5/0.25/0.25; p = 0.7 is reached after two of them
    expect(dist({ topK: 3, topP: 0.7 })).toEqual({ ids: [1, 2], probs: [0.666667, 0.333333] });
  });

  it('−∞ logits are never kept; NaN and impossible settings are errors', () => {
    expect(samplingDistribution(Float32Array.of(-Infinity, 0, -Infinity, 0), {}).ids).toEqual([1, 3]);
    expect(() => samplingDistribution(Float32Array.of(-Infinity, -Infinity), {})).toThrow('every token has logit −∞');
    expect(() => samplingDistribution(Float32Array.of(0, NaN), {})).toThrow('logit 1 is NaN. The model produced NaN');
    expect(() => samplingDistribution(new Float32Array(0), {})).toThrow('the logits are empty');
    expect(() => samplingDistribution(fromProbs(PROBS), { temperature: -1 })).toThrow('temperature must be a positive number; expected > 0 (or greedy), found -1');
    expect(() => samplingDistribution(fromProbs(PROBS), { topK: 1.5 })).toThrow('top-k must be a whole number ≥ 0');
    expect(() => samplingDistribution(fromProbs(PROBS), { topP: 0 })).toThrow('top-p must be in (0, 1]; expected 0 < p ≤ 1 (1 = off), found 0');
    expect(() => samplingDistribution(fromProbs(PROBS), { topP: 1.5 })).toThrow('top-p must be in (0, 1]');
  });

  it('matches a plain sort-everything reference on a large random vocabulary', () => {
    const rng = seededRng(7);
    const n = 50_000;
    const logits = Float32Array.from({ length: n }, () => (rng() - 0.5) * 30);
    for (const opts of [{ topP: 0.9 }, { topP: 0.5, temperature: 0.7 }, { topK: 40 }, { topK: 40, topP: 0.8, temperature: 1.3 }, { topP: 0.999, temperature: 3 }]) {
      const got = samplingDistribution(logits, opts);
      const want = referenceDistribution(logits, opts);
      expect(got.ids).toEqual(want.ids);
      got.probs.forEach((p, i) => expect(p).toBeCloseTo(want.probs[i], 12));
    }
  });
});

/** Sort everything, cut top-k (keeping ties), renormalise, cut top-p. */
function referenceDistribution(logits: Float32Array, o: { temperature?: number; topK?: number; topP?: number }) {
  const t = o.temperature ?? 1;
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  let kept = order;
  if (o.topK) kept = order.filter((id) => logits[id] >= logits[order[o.topK! - 1]]);
  const w = kept.map((id) => Math.exp((logits[id] - logits[order[0]]) / t));
  const total = w.reduce((a, b) => a + b, 0);
  let count = kept.length;
  if (o.topP !== undefined) {
    let c = 0;
    count = kept.findIndex((_, i) => (c += w[i] / total) >= o.topP!) + 1 || kept.length;
  }
  const sum = w.slice(0, count).reduce((a, b) => a + b, 0);
  return { ids: kept.slice(0, count), probs: w.slice(0, count).map((x) => x / sum) };
}

describe('sampleNext', () => {
  it('walks the cumulative distribution with the rng value', () => {
    const logits = fromProbs(PROBS);
    // top-k 2 → ids 1, 2, 3 with 0.5, 0.25, 0.25
    const draws = [0, 0.49, 0.51, 0.74, 0.76, 0.999999].map((u) => sampleNext(logits, { topK: 2, rng: fixedRng(u) }));
    expect(draws).toEqual([1, 1, 2, 2, 3, 3]);
    expect(() => sampleNext(logits, { rng: fixedRng(1) })).toThrow('the random source returned a value outside [0, 1), found 1');
  });

  it('the repetition penalty changes what is sampled', () => {
    const logits = Float32Array.of(2, 2);
    // after the penalty: logits 1 and 2 → id 1 first with e/(1+e) ≈ 0.7311, then id 0
    expect(sampleNext(logits, { repetitionPenalty: 2, previousIds: [0], rng: fixedRng(0.73) })).toBe(1);
    expect(sampleNext(logits, { repetitionPenalty: 2, previousIds: [0], rng: fixedRng(0.74) })).toBe(0);
    expect(sampleNext(logits, { rng: fixedRng(0.74) })).toBe(1); // without it: 0.5 / 0.5
  });

  it('is repeatable with seededRng and follows the distribution', () => {
    const logits = fromProbs(PROBS);
    const run = (seed: number) => {
      const rng = seededRng(seed);
      return Array.from({ length: 20_000 }, () => sampleNext(logits, { temperature: 1, rng }));
    };
    const a = run(1234);
    expect(run(1234)).toEqual(a);
    expect(run(1235)).not.toEqual(a);
    const freq = PROBS.map((_, id) => a.filter((x) => x === id).length / a.length);
    freq.forEach((f, id) => expect(Math.abs(f - PROBS[id])).toBeLessThan(0.012));
  });
});

describe('seededRng', () => {
  it('is a fixed sequence per seed, uniform in [0, 1)', () => {
    const first = (seed: number) => { const r = seededRng(seed); return [r(), r(), r()]; };
    expect(first(0)).toEqual(first(0));
    expect(first(0)).not.toEqual(first(1));
    expect(first(2 ** 32)).not.toEqual(first(0)); // the high bits of the seed count
    expect(first(-1)).not.toEqual(first(2 ** 32 - 1));
    const r = seededRng(99);
    let sum = 0;
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const u = r();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      buckets[Math.floor(u * 10)]++;
    }
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500);
    expect(() => seededRng(1.5)).toThrow('the seed must be an integer');
  });

  it('does not change between versions (recorded sampling runs stay reproducible)', () => {
    const r = seededRng(42);
    expect([r(), r(), r()].map((x) => x.toFixed(12))).toEqual(PINNED_42);
  });
});

const PINNED_42 = ['0.904073109385', '0.274076540256', '0.380135309184'];
