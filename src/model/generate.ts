/**
 * Token generation over a PreviewModel: prefill, then one token per step with the KV cache;
 * a ChatSession keeps the cache across turns and re-runs only what differs from the last conversation.
 */
import { CancelledError } from '../core/errors.ts';
import { sampleNext, type SamplingOptions } from './sampling.ts';
import type { KvCache, PreviewModel } from './session.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface GenerateOptions {
  /** Default 256. */
  maxNewTokens?: number;
  /** Any of these ends generation (the eos id is yielded, not fed back). */
  eosTokenIds?: number[];
  /** Passed to sampleNext; `previousIds` is filled in (prompt + generated). Default greedy. */
  sampling?: Omit<SamplingOptions, 'previousIds'>;
  signal?: AbortSignal;
  /** Longest run of prompt tokens per forward pass (default 256); bounds the attention scores' memory. */
  prefillChunk?: number;
}

export interface GeneratedToken {
  id: number;
  /** Text this token adds (needs a tokenizer; a partial character may wait for the next token; the last token flushes). */
  text: string;
}

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens whose keys/values came from the cache of the previous turn. */
  reusedTokens: number;
  prefillMs: number;
  newTokens: number;
  /** Time of the steps after the first new token (one token each). */
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  stopReason: 'eos' | 'max-new-tokens' | 'cancelled';
  /** Full decoded text of the new tokens (special tokens skipped), when a tokenizer was given; after a cancel it may hold more than was yielded. */
  text: string;
}

/** A conversation with one model: the KV cache and the ids it holds survive between turns. */
export class ChatSession {
  private cache: KvCache;
  /** Ids whose keys/values are in the cache, in order. */
  private cachedIds: number[] = [];
  lastStats: GenerationStats | null = null;

  constructor(readonly model: PreviewModel, readonly tokenizer?: TextTokenizer) {
    this.cache = model.emptyCache();
  }

  /** Number of tokens in the cache. */
  get cachedLength(): number {
    return this.cachedIds.length;
  }

  /** Forget the cache (after `model.rebind`, whose new weights make it stale). */
  reset(): void {
    this.model.disposeCache(this.cache);
    this.cache = this.model.emptyCache();
    this.cachedIds = [];
  }

  /**
   * Continue `promptIds` (the whole conversation so far, rendered and tokenized). The longest common
   * prefix with what the cache holds is reused; only the rest is run. Returns the stats when done.
   */
  async *generate(promptIds: number[], opts: GenerateOptions = {}): AsyncGenerator<GeneratedToken, GenerationStats> {
    const maxNewTokens = opts.maxNewTokens ?? 256;
    const eos = new Set(opts.eosTokenIds ?? this.tokenizer?.eosTokenIds ?? []);
    const sampling = opts.sampling ?? { greedy: true };
    const prefillChunk = opts.prefillChunk ?? 256;
    if (!Number.isSafeInteger(prefillChunk) || prefillChunk < 1) throw new RangeError(`prefillChunk must be a positive integer, not ${prefillChunk}`);
    if (promptIds.length === 0) throw new Error('generate needs at least one prompt token');

    // Reuse the shared prefix, but run at least one token: its logits pick the first new token.
    let reused = 0;
    while (reused < this.cachedIds.length && reused < promptIds.length && this.cachedIds[reused] === promptIds[reused]) reused++;
    reused = Math.min(reused, promptIds.length - 1);
    if (reused < this.cache.length) {
      const old = this.cache;
      this.cache = await this.model.truncateCache(old, reused);
      this.cachedIds = this.cachedIds.slice(0, reused);
    }

    const generated: number[] = [];
    const context = [...promptIds];
    let shown = 0;
    let stopReason: GenerationStats['stopReason'] = 'max-new-tokens';
    const t0 = performance.now();
    let t1 = t0;
    let pending = promptIds.slice(reused);
    try {
      while (generated.length < maxNewTokens) {
        if (opts.signal?.aborted) {
          stopReason = 'cancelled';
          break;
        }
        // A long prompt runs in chunks: attention scores grow with chunk × context, not prompt².
        let logits: Float32Array | null = null;
        for (let start = 0; start < pending.length; start += prefillChunk) {
          if (opts.signal?.aborted) throw new CancelledError();
          const chunk = pending.slice(start, start + prefillChunk);
          const result = await this.model.forward(chunk, this.cache);
          this.model.disposeCache(this.cache); // GPU-held past tensors are not garbage-collected
          this.cache = result.cache;
          this.cachedIds.push(...chunk);
          logits = result.logits;
        }
        if (generated.length === 0) t1 = performance.now();
        const id = sampleNext(logits!, { ...sampling, previousIds: context });
        generated.push(id);
        context.push(id);
        const last = eos.has(id) || generated.length >= maxNewTokens;
        let text = '';
        if (this.tokenizer) {
          const ids = generated.filter((g) => !eos.has(g));
          // The last token flushes whatever incremental decoding held back.
          text = last || !this.tokenizer.decodeIncremental ? this.tokenizer.decode(ids, { skipSpecialTokens: true }).slice(shown) : this.tokenizer.decodeIncremental(ids, shown, { skipSpecialTokens: true });
          shown += text.length;
        }
        yield { id, text };
        if (eos.has(id)) {
          stopReason = 'eos';
          break;
        }
        pending = [id];
      }
    } catch (e) {
      if (!(e instanceof CancelledError)) throw e;
      stopReason = 'cancelled';
    }
    const t2 = performance.now();
    const fullText = this.tokenizer ? this.tokenizer.decode(generated.filter((g) => !eos.has(g)), { skipSpecialTokens: true }) : '';
    const decodeSteps = Math.max(0, generated.length - 1);
    const prefillTokens = promptIds.length - reused;
    this.lastStats = {
      promptTokens: promptIds.length,
      reusedTokens: reused,
      prefillMs: t1 - t0,
      newTokens: generated.length,
      decodeMs: t2 - t1,
      prefillTokensPerSecond: prefillTokens / Math.max((t1 - t0) / 1000, 1e-9),
      decodeTokensPerSecond: decodeSteps / Math.max((t2 - t1) / 1000, 1e-9),
      stopReason,
      text: fullText,
    };
    return this.lastStats;
  }
}

/** Generate once from `promptIds` with a fresh cache; resolves to the new ids and stats. */
export async function generateIds(model: PreviewModel, promptIds: number[], opts: GenerateOptions = {}): Promise<{ ids: number[]; stats: GenerationStats }> {
  const session = new ChatSession(model);
  const ids: number[] = [];
  for await (const t of session.generate(promptIds, opts)) ids.push(t.id);
  return { ids, stats: session.lastStats! };
}
