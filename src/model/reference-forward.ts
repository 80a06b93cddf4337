/**
 * A plain forward pass of the preview's decoders in f64, one token at a time with a KV cache:
 * the ground truth the ONNX graph is tested against. Written for clarity, not speed (tiny models only).
 */
import { ChatvecError } from '../core/errors.ts';
import { decoderTensors, layerPrefix, type DecoderSpec } from './graph/decoder-spec.ts';
import { ropeInverseFrequencies } from './graph/rope.ts';

/** Keys (after rotation) and values of every cached position, per layer: [position][kvHead·D]. */
export interface ReferenceCache {
  keys: Float64Array[][];
  values: Float64Array[][];
}

export class ReferenceDecoder {
  private readonly w = new Map<string, Float32Array>();
  private readonly invFreq: Float64Array;

  constructor(readonly spec: DecoderSpec, weights: Map<string, Float32Array> | ((name: string) => Float32Array)) {
    for (const t of decoderTensors(spec)) {
      const data = typeof weights === 'function' ? weights(t.name) : weights.get(t.name);
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (!data || data.length !== count) {
        throw new ChatvecError('a weight the reference forward needs is missing or has the wrong size', { code: 'reference-weight', tensor: t.name, expected: `${count} values (shape [${t.shape.join(', ')}])`, found: data ? `${data.length}` : 'nothing' });
      }
      this.w.set(t.name, data);
    }
    this.invFreq = ropeInverseFrequencies(spec.rope);
  }

  newCache(): ReferenceCache {
    return { keys: Array.from({ length: this.spec.numLayers }, () => []), values: Array.from({ length: this.spec.numLayers }, () => []) };
  }

  /**
   * Append `ids` after the cached positions and return each new position's logits.
   * `positions` default to cache index (no padding); give them to mimic left-padded batches.
   */
  forward(ids: number[], cache: ReferenceCache = this.newCache(), positions?: number[]): Float64Array[] {
    const out: Float64Array[] = [];
    ids.forEach((id, i) => {
      const index = cache.keys[0].length;
      out.push(this.step(id, positions ? positions[i] : index, cache));
    });
    return out;
  }

  /** Greedy continuation: argmax ids of `maxNewTokens` steps after `promptIds`, stopping at any `eosIds`. */
  greedy(promptIds: number[], maxNewTokens: number, eosIds: number[] = []): number[] {
    const cache = this.newCache();
    let logits = this.forward(promptIds, cache).at(-1)!;
    const ids: number[] = [];
    for (let n = 0; n < maxNewTokens; n++) {
      const next = argmax(logits);
      ids.push(next);
      if (eosIds.includes(next)) break;
      logits = this.forward([next], cache)[0];
    }
    return ids;
  }

  private step(id: number, position: number, cache: ReferenceCache): Float64Array {
    const s = this.spec;
    const H = s.hiddenSize;
    if (!Number.isInteger(id) || id < 0 || id >= s.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (${s.vocabSize})`);
    let x: Float64Array = Float64Array.from(this.w.get('model.embed_tokens.weight')!.subarray(id * H, (id + 1) * H));
    for (let l = 0; l < s.numLayers; l++) {
      const p = layerPrefix(l);
      const h = this.rmsNorm(x, `${p}.input_layernorm.weight`);
      const q = this.linear(h, `${p}.self_attn.q_proj`, s.bias.qkv);
      const k = this.linear(h, `${p}.self_attn.k_proj`, s.bias.qkv);
      const v = this.linear(h, `${p}.self_attn.v_proj`, s.bias.qkv);
      for (let head = 0; head < s.numHeads; head++) this.prepareHead(q, head, position, s.qkNorm ? `${p}.self_attn.q_norm.weight` : null);
      for (let head = 0; head < s.numKvHeads; head++) this.prepareHead(k, head, position, s.qkNorm ? `${p}.self_attn.k_norm.weight` : null);
      cache.keys[l].push(k);
      cache.values[l].push(v);
      const context = this.attend(q, cache.keys[l], cache.values[l]);
      x = add(x, this.linear(context, `${p}.self_attn.o_proj`, s.bias.o));
      const h2 = this.rmsNorm(x, `${p}.post_attention_layernorm.weight`);
      const gate = this.linear(h2, `${p}.mlp.gate_proj`, s.bias.mlp);
      const up = this.linear(h2, `${p}.mlp.up_proj`, s.bias.mlp);
      for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      x = add(x, this.linear(gate, `${p}.mlp.down_proj`, s.bias.mlp));
    }
    const final = this.rmsNorm(x, 'model.norm.weight');
    return matVec(this.w.get(s.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!, final, s.vocabSize);
  }

  /** In place on head `head` of `t`: optional RMSNorm over the head, then the rotation for `position`. */
  private prepareHead(t: Float64Array, head: number, position: number, normWeight: string | null): void {
    const D = this.spec.headDim, half = D / 2, o = head * D;
    if (normWeight) {
      const normed = this.rmsNorm(t.subarray(o, o + D), normWeight);
      t.set(normed, o);
    }
    for (let i = 0; i < half; i++) {
      const angle = position * this.invFreq[i];
      const c = Math.cos(angle), sn = Math.sin(angle);
      const x1 = t[o + i], x2 = t[o + half + i];
      t[o + i] = x1 * c - x2 * sn;
      t[o + half + i] = x2 * c + x1 * sn;
    }
  }

  /** Causal attention of the newest query over the cached keys (all earlier, or the sliding window). */
  private attend(q: Float64Array, keys: Float64Array[], values: Float64Array[]): Float64Array {
    const s = this.spec, D = s.headDim, group = s.numHeads / s.numKvHeads;
    const last = keys.length - 1;
    const first = s.slidingWindow === null ? 0 : Math.max(0, last - s.slidingWindow + 1);
    const out = new Float64Array(s.numHeads * D);
    const scale = 1 / Math.sqrt(D);
    for (let head = 0; head < s.numHeads; head++) {
      const kvo = Math.floor(head / group) * D, qo = head * D;
      const scores: number[] = [];
      for (let j = first; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * keys[j][kvo + d];
        scores.push(dot * scale);
      }
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = first; j <= last; j++) {
        const pj = e[j - first] / sum;
        for (let d = 0; d < D; d++) out[qo + d] += pj * values[j][kvo + d];
      }
    }
    return out;
  }

  private rmsNorm(x: Float64Array, weight: string): Float64Array {
    const w = this.w.get(weight)!;
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + this.spec.rmsNormEps);
    return x.map((v, i) => v * r * w[i]);
  }

  private linear(x: Float64Array, name: string, bias: boolean): Float64Array {
    const weight = this.w.get(`${name}.weight`)!;
    const out = matVec(weight, x, weight.length / x.length);
    if (bias) {
      const b = this.w.get(`${name}.bias`)!;
      for (let i = 0; i < out.length; i++) out[i] += b[i];
    }
    return out;
  }
}

/** W [rows, x.length] (row-major, f32) · x, in f64. */
function matVec(w: Float32Array, x: Float64Array, rows: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    const o = r * n;
    for (let c = 0; c < n; c++) acc += w[o + c] * x[c];
    out[r] = acc;
  }
  return out;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
