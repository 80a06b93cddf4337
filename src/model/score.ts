/**
 * Scoring text with the preview model: the negative log-likelihood of every token given the ones before,
 * for perplexity. `PreviewModel.forward` returns the last position's logits only, so tokens go in one at a
 * time through the KV cache; log-softmax runs in f64.
 */
import { throwIfAborted } from '../core/errors.ts';
import type { PreviewModel } from './session.ts';

export interface ScoreTextOptions {
  /** Token prepended to every window as context (the tokenizer's bos); it is not predicted. Null: none. */
  bosTokenId: number | null;
  /** Most tokens one window holds, bos included (≥ 2); a longer text is split into consecutive windows, each scored from a fresh cache. */
  window: number;
  signal?: AbortSignal;
  /** After each predicted token: tokens predicted so far, and the total. */
  onToken?: (done: number, total: number) => void;
}

export interface TextScore {
  /** Σ −ln p(token | tokens before it in its window), over the predicted tokens (natural log, f64). */
  sumNll: number;
  /** Tokens predicted: every token, except the first of each window when there is no bos. */
  predicted: number;
}

/** −ln softmax(logits)[target], with the log-sum-exp in f64 around the largest logit. */
export function negativeLogLikelihood(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum) - logits[target];
}

/**
 * The windows `ids` is scored in: consecutive runs of at most `window − 1` tokens with a bos, `window`
 * without, in order and without overlap.
 */
export function scoreWindows(ids: readonly number[], window: number, hasBos: boolean): number[][] {
  if (!Number.isSafeInteger(window) || window < 2) throw new RangeError(`the scoring window must be an integer ≥ 2, not ${window}`);
  const size = hasBos ? window - 1 : window;
  const out: number[][] = [];
  for (let start = 0; start < ids.length; start += size) out.push(ids.slice(start, start + size));
  return out;
}

/** Σ NLL of `ids` under `model` (see TextScore); windows from `scoreWindows`. */
export async function scoreText(model: PreviewModel, ids: readonly number[], opts: ScoreTextOptions): Promise<TextScore> {
  const hasBos = opts.bosTokenId !== null;
  const windows = scoreWindows(ids, opts.window, hasBos);
  const total = windows.reduce((n, w) => n + (hasBos ? w.length : w.length - 1), 0);
  let sumNll = 0, predicted = 0;
  for (const tokens of windows) {
    const context = hasBos ? [opts.bosTokenId!, ...tokens] : tokens;
    let cache = model.emptyCache();
    try {
      for (let i = 0; i + 1 < context.length; i++) {
        throwIfAborted(opts.signal);
        const step = await model.forward([context[i]], cache);
        model.disposeCache(cache);
        cache = step.cache;
        sumNll += negativeLogLikelihood(step.logits, context[i + 1]);
        predicted++;
        opts.onToken?.(predicted, total);
      }
    } finally {
      model.disposeCache(cache);
    }
  }
  return { sumNll, predicted };
}

/** Longest scoring window: held-out paragraphs are a few hundred tokens, and one window's cost grows with its length. */
export const MAX_SCORE_WINDOW = 1024;

/**
 * The scoring window for a model: tokenizer_config.json's `model_max_length` (the context the model was
 * trained with) when it is an integer from 2 to MAX_SCORE_WINDOW, else MAX_SCORE_WINDOW.
 */
export function scoreWindowOf(tokenizerConfig: Record<string, unknown>): number {
  const n = tokenizerConfig.model_max_length;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 2 && n <= MAX_SCORE_WINDOW ? n : MAX_SCORE_WINDOW;
}
