import { ChatvecError } from '../core/errors.ts';

export interface SamplingOptions {
  /** Take the most likely token (ties → lowest id); temperature, top-k and top-p are then ignored. */
  greedy?: boolean;
  /** Divides the logits (default 1); 0 means greedy. */
  temperature?: number;
  /** Keep the k most likely tokens, and any tied with the k-th (default 0: off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p, at least one (default 1: off). */
  topP?: number;
  /** transformers' repetition penalty (default 1: off): a seen token's logit is divided by it when > 0, multiplied otherwise. */
  repetitionPenalty?: number;
  /** Ids already in the sequence (prompt and generated), for the repetition penalty. */
  previousIds?: number[];
  /** Uniform in [0, 1); default Math.random. Use `seededRng` for repeatable samples. */
  rng?: () => number;
}

/** The next token id from one row of logits: repetition penalty, then temperature, top-k and top-p as in transformers' generate. */
export function sampleNext(logits: Float32Array, opts: SamplingOptions): number {
  const scores = applyRepetitionPenalty(logits, opts.previousIds ?? [], opts.repetitionPenalty ?? 1);
  if (opts.greedy || opts.temperature === 0) return argmax(scores);
  const { ids, probs } = samplingDistribution(scores, opts);
  const u = (opts.rng ?? Math.random)();
  if (!(u >= 0 && u < 1)) throw new ChatvecError('the random source returned a value outside [0, 1)', { code: 'bad-sampling', found: String(u) });
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += probs[i];
    if (u < cumulative) return ids[i];
  }
  // Rounding can leave the sum a hair under 1.
  return ids[ids.length - 1];
}

/** Index of the largest logit, the lowest index among ties. */
export function argmax(logits: Float32Array): number {
  checkLogits(logits);
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** A copy of `logits` where each id in `previousIds` (once, however often it occurs) is divided by `penalty` when > 0 and multiplied otherwise. */
export function applyRepetitionPenalty(logits: Float32Array, previousIds: readonly number[], penalty: number): Float32Array {
  if (!(penalty > 0) || !Number.isFinite(penalty)) throw new ChatvecError('repetition penalty must be a positive number', { code: 'bad-sampling', expected: '> 0 (1 = off)', found: String(penalty) });
  if (penalty === 1 || previousIds.length === 0) return logits;
  const out = logits.slice();
  // float32 arithmetic as torch does it: both operands float32, the result rounded once into the Float32Array.
  const p32 = Math.fround(penalty);
  for (const id of new Set(previousIds)) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= logits.length) throw new ChatvecError('a previous token id is outside the logits', { code: 'bad-sampling', expected: `0 ≤ id < ${logits.length}`, found: String(id) });
    const v = logits[id];
    out[id] = v > 0 ? v / p32 : v * p32;
  }
  return out;
}

/**
 * The tokens that sampling may pick and their probabilities (summing to 1), most likely first, ties in id order:
 * softmax(logits / temperature) restricted by top-k, then top-p, and renormalised.
 */
export function samplingDistribution(logits: Float32Array, opts: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): { ids: number[]; probs: number[] } {
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new ChatvecError('temperature must be a positive number', { code: 'bad-sampling', expected: '> 0 (or greedy)', found: String(temperature) });
  if (!Number.isSafeInteger(topK) || topK < 0) throw new ChatvecError('top-k must be a whole number ≥ 0', { code: 'bad-sampling', expected: '0 (off) or more', found: String(topK) });
  if (!(topP > 0 && topP <= 1)) throw new ChatvecError('top-p must be in (0, 1]', { code: 'bad-sampling', expected: '0 < p ≤ 1 (1 = off)', found: String(topP) });
  checkLogits(logits);

  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) throw new ChatvecError('every token has logit −∞', { code: 'bad-sampling', hint: 'Nothing can be sampled; check the logits the model produced' });
  // Scaling by 1/T is monotonic, so order and the top-k cut can be decided on the raw logits; weights are exp((l − max) / T).
  const weight = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += weight[i] = Math.exp((logits[i] - max) / temperature);

  let floor = -Infinity;
  if (topK > 0 && topK < n) floor = kthLargest(logits, topK);
  // Only tokens at or above a weight threshold can be in the nucleus once those above it already reach p; lower it until they do.
  let threshold = topP < 1 ? 1e-3 : 0;
  let candidates: number[];
  for (;;) {
    candidates = [];
    let kept = 0;
    let keptTopK = 0;
    for (let i = 0; i < n; i++) {
      // weight 0: −∞, or so unlikely that exp underflows; it can never be drawn.
      if (logits[i] < floor || weight[i] === 0) continue;
      keptTopK += weight[i];
      if (weight[i] >= threshold) {
        candidates.push(i);
        kept += weight[i];
      }
    }
    if (threshold === 0 || kept >= topP * keptTopK) {
      total = keptTopK;
      break;
    }
    threshold = threshold < 1e-30 ? 0 : threshold * 1e-3;
  }
  candidates.sort((a, b) => weight[b] - weight[a] || a - b);

  let count = candidates.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < candidates.length; i++) {
      cumulative += weight[candidates[i]] / total;
      if (cumulative >= topP) {
        count = i + 1;
        break;
      }
    }
  }
  const ids = candidates.slice(0, count);
  let kept = 0;
  for (const id of ids) kept += weight[id];
  return { ids, probs: ids.map((id) => weight[id] / kept) };
}

/** A repeatable uniform [0, 1) generator (sfc32); every safe-integer seed gives its own sequence. */
export function seededRng(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) throw new ChatvecError('the seed must be an integer', { code: 'bad-sampling', found: String(seed) });
  let a = 0x9e3779b9, b = seed >>> 0, c = Math.floor(seed / 2 ** 32) >>> 0, d = 1;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 2 ** 32;
  };
  // The first outputs of a sparse state are correlated with the seed.
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** The k-th largest value (k ≥ 1). */
function kthLargest(values: Float32Array, k: number): number {
  // A sorted buffer of the k largest seen so far; most values fail the first comparison.
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (top.length === k && v <= top[k - 1]) continue;
    let j = Math.min(top.length, k - 1);
    if (top.length < k) top.push(v);
    while (j > 0 && top[j - 1] < v) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = v;
  }
  return top[k - 1];
}

function checkLogits(logits: Float32Array): void {
  if (logits.length === 0) throw new ChatvecError('the logits are empty', { code: 'bad-sampling' });
  for (let i = 0; i < logits.length; i++) {
    if (Number.isNaN(logits[i])) throw new ChatvecError(`logit ${i} is NaN`, { code: 'nan-logits', hint: 'The model produced NaN; the merged weights may hold NaN or overflow (try a smaller alpha or check the merge)' });
  }
}
