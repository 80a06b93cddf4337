import { describe, expect, it } from 'vitest';
import { CancelledError } from '../core/errors.ts';
import { negativeLogLikelihood, scoreText, scoreWindowOf, scoreWindows } from './score.ts';
import type { KvCache, PreviewModel } from './session.ts';

/** A model whose next-token distribution depends on the last token only: logit 2 on (last + 1) mod 4, 0 elsewhere. */
function fakeModel(calls: { ids: number[]; past: number }[]): PreviewModel {
  return {
    emptyCache: (): KvCache => ({ length: 0, tensors: [] }),
    disposeCache: () => undefined,
    forward: async (ids: number[], cache: KvCache) => {
      calls.push({ ids, past: cache.length });
      const logits = new Float32Array(4);
      logits[(ids.at(-1)! + 1) % 4] = 2;
      return { logits, cache: { length: cache.length + ids.length, tensors: [] } };
    },
  } as unknown as PreviewModel;
}

describe('score', () => {
  it('negativeLogLikelihood: log-softmax in f64', () => {
    expect(negativeLogLikelihood(new Float32Array([0, 0, 0, 0]), 2)).toBe(Math.log(4));
    expect(negativeLogLikelihood(new Float32Array([1000, 0]), 0)).toBe(0);
    expect(negativeLogLikelihood(new Float32Array([2, 0, 0, 0]), 1)).toBe(2 + Math.log(1 + Math.exp(-2) + Math.exp(-2) + Math.exp(-2)));
  });
  it('scoreWindows splits without overlap, leaving room for the bos', () => {
    expect(scoreWindows([1, 2, 3, 4, 5], 3, true)).toEqual([[1, 2], [3, 4], [5]]);
    expect(scoreWindows([1, 2, 3, 4, 5], 3, false)).toEqual([[1, 2, 3], [4, 5]]);
    expect(scoreWindows([], 3, true)).toEqual([]);
    expect(() => scoreWindows([1], 1, true)).toThrow('the scoring window must be an integer ≥ 2, not 1');
  });
  it('scoreText feeds one token at a time, each window from a fresh cache after the bos', async () => {
    const calls: { ids: number[]; past: number }[] = [];
    const s = await scoreText(fakeModel(calls), [1, 2, 0, 0, 1], { bosTokenId: 0, window: 3 });
    expect(calls).toEqual([
      { ids: [0], past: 0 }, { ids: [1], past: 1 },
      { ids: [0], past: 0 }, { ids: [0], past: 1 },
      { ids: [0], past: 0 },
    ]);
    // Predicted: 1 after 0 (hit), 2 after 1 (hit), 0 after 0 (miss), 0 after 0 (miss), 1 after 0 (hit).
    const hit = negativeLogLikelihood(new Float32Array([0, 2, 0, 0]), 1), miss = negativeLogLikelihood(new Float32Array([0, 2, 0, 0]), 0);
    expect(s).toEqual({ sumNll: hit + hit + miss + miss + hit, predicted: 5 });
  });
  it('without a bos the first token of each window is context only', async () => {
    const calls: { ids: number[]; past: number }[] = [];
    const s = await scoreText(fakeModel(calls), [1, 2, 3, 0, 1], { bosTokenId: null, window: 3 });
    expect(s.predicted).toBe(3);
    expect(calls.map((c) => c.ids[0])).toEqual([1, 2, 0]);
  });
  it('cancels between tokens', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(scoreText(fakeModel([]), [1, 2], { bosTokenId: 0, window: 8, signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
  });
  it('scoreWindowOf: model_max_length up to 1024', () => {
    expect(scoreWindowOf({ model_max_length: 256 })).toBe(256);
    expect(scoreWindowOf({ model_max_length: 1e30 })).toBe(1024);
    expect(scoreWindowOf({ model_max_length: 8192 })).toBe(1024);
    expect(scoreWindowOf({})).toBe(1024);
    expect(scoreWindowOf({ model_max_length: 1 })).toBe(1024);
  });
});
