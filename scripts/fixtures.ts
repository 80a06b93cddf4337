/**
 * Synthetic Hugging Face checkpoints for tests and the demo: a base / chat / cp triplet with real
 * safetensors files, config, byte-level BPE tokenizer and side files. Everything is deterministic
 * from the seed.
 *
 * Layout of the vocabulary (ids):
 *   base, chat: [256 byte symbols][merges …][5 special tokens]                       = vocab
 *   cp:         [256 byte symbols][same merges …][cpExtraTokens more merges][5 specials] = vocab + cpExtraTokens
 * so with cpExtraTokens > 0 the special tokens sit at higher ids in cp than in base/chat.
 * cp's rows for tokens shared with base are base + a small delta (looked up by token, so special
 * rows follow their token); the extra rows are fresh.
 *
 * Special values (see `specialValues`) are planted in `model.norm.weight` of every model.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSafetensorsHeader } from '../src/core/safetensors/build-header.ts';
import { decodeToF32, dtypeSize, encodeFromF32, f32BitsToBf16, f32BitsToF16, f32ToBits, isFloatDtype, TORCH_DTYPE, type Dtype, type FloatDtype } from '../src/core/dtype.ts';

// ---------------------------------------------------------------------------------------------
// Options and model spec

export interface TripletOptions {
  /**
   * qwen2 adds q/k/v biases (self_attn.{q,k,v}_proj.bias); qwen3 has no biases but per-head q/k RMSNorm
   * (self_attn.{q,k}_norm.weight [headDim]); mistral is llama's layout with model_type mistral.
   */
  arch: 'llama' | 'qwen2' | 'qwen3' | 'mistral';
  /** Storage dtype of every float tensor, in all three models. */
  dtype: FloatDtype;
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  /** base/chat vocabulary size (byte symbols + merges + 5 specials), default 300. */
  vocab?: number;
  /** cp expands the vocabulary by this many regular tokens, placed before the specials (default 0). */
  cpExtraTokens?: number;
  /** No lm_head.weight; config tie_word_embeddings true. */
  tiedEmbeddings?: boolean;
  /** 1 = model.safetensors; >1 = model-0000i-of-0000N.safetensors + model.safetensors.index.json. */
  shards?: number;
  seed?: number;
  /** Plant NaN and ±Inf in `model.norm.weight` of chat and cp (see `specialValues`). */
  specials?: boolean;
  /** Per-head size (config head_dim); default hiddenSize / heads. */
  headDim?: number;
  /** Standard deviation of base weights (default 0.02); larger values make attention peaked, for forward-pass tests. */
  weightStd?: number;
  /** config.json rope_scaling, e.g. {rope_type: "llama3", factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}; default null. */
  ropeScaling?: Record<string, unknown> | null;
  /** mistral: config sliding_window (default null: full attention). */
  slidingWindow?: number | null;
}

export interface FixtureTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Float32Array: f32 values, rounded to `dtype` (a float dtype) on write. Uint8Array: the raw bytes. */
  data: Float32Array | Uint8Array;
}

export interface ModelSpec {
  /** Written as config.json; null writes none. */
  config: Record<string, unknown> | null;
  /** In file order. */
  tensors: FixtureTensor[];
  /** Default 1. */
  shards?: number;
  /** safetensors `__metadata__`, default {"format":"pt"}. */
  metadata?: Record<string, string>;
  /** Other files by name: strings and bytes written as-is, anything else as indented JSON. */
  files?: Record<string, unknown>;
}

export const DEFAULTS = { hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, vocab: 300, cpExtraTokens: 0, shards: 1, seed: 0 } as const;

/** The synthetic triplet (`make-fixtures --demo`): the shape the studio's demo had before the trained one, kept for tests of cp's extra vocabulary rows. */
export const DEMO_OPTIONS: TripletOptions = {
  arch: 'llama', dtype: 'BF16', hiddenSize: 64, layers: 4, heads: 4, kvHeads: 2, intermediate: 192, cpExtraTokens: 8, shards: 1, seed: 7,
};

export const BOS_TOKEN = '<|begin_of_text|>';
export const EOS_TOKEN = '<|end_of_text|>';
export const EOT_TOKEN = '<|eot_id|>';
/** In id order, after the regular tokens. */
export const SPECIAL_TOKENS = [BOS_TOKEN, EOS_TOKEN, EOT_TOKEN, '<|start_header_id|>', '<|end_header_id|>'] as const;

export const CHAT_TEMPLATE =
  "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}";

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: a Weyl sequence through a 32-bit avalanche finaliser, Box–Muller normals

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** 32-bit hash of a string (FNV-1a, then mixed). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

export class Rng {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = mix32((seed >>> 0) ^ 0x5bd1e995);
  }
  /** Independent stream for a (seed, label) pair, e.g. (7, "chat:model.norm.weight"). */
  static for(seed: number, label: string): Rng {
    return new Rng(mix32((seed >>> 0) + 0x9e3779b9) ^ hashString(label));
  }
  /** Uniform in (0, 1), never 0 or 1. */
  uniform(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return (mix32(this.state) + 0.5) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  fillNormal(out: Float32Array, mean: number, std: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }
}

/** Round f32 values to `dtype` and back (exact values of the stored dtype). */
export function roundToDtype(values: Float32Array, dtype: FloatDtype): Float32Array {
  if (dtype === 'F32') return new Float32Array(values);
  const bytes = new Uint8Array(values.length * 2);
  encodeFromF32(values, dtype, bytes, values.length);
  const out = new Float32Array(values.length);
  decodeToF32(bytes, dtype, out, values.length);
  return out;
}

function roundScalar(v: number, dtype: FloatDtype): number {
  return roundToDtype(Float32Array.of(v), dtype)[0];
}

// ---------------------------------------------------------------------------------------------
// Special values

/** Tensor that holds the planted special values in every model. */
export const SPECIALS_TENSOR = 'model.norm.weight';

export interface SpecialValues {
  /** Element indices into SPECIALS_TENSOR (first `base.length` elements). */
  base: number[];
  chat: number[];
  cp: number[];
  /** What each index tests. */
  notes: string[];
  /** Indices 9..13 of chat / cp when `specials` is on (base keeps ordinary values there). */
  nanInf: { chat: Record<number, number>; cp: Record<number, number> };
  /** Mantissa bits of the dtype, the ulp of 1 (2^-m), the subnormal unit used, the smallest subnormal. */
  mantissaBits: number;
  ulp1: number;
  subnormal: number;
  minSubnormal: number;
}

/**
 * Values of SPECIALS_TENSOR[0..8] in base, chat and cp, all exactly representable in `dtype` except
 * index 8 (rounded literals). With m mantissa bits, u = 2^-m, and α = 1 unless said:
 *  0: 1, 1+u, 2        → cp + (chat − base) = 2 + u, a tie in [2,4) → rounds to 2 (even)
 *  1: 1, 1+u, 2+2u     → 2 + 3u, a tie → rounds up to 2 + 4u (even)
 *  2: −1, −1−u, −2     → −2 − u, a negative tie → −2
 *  3: 1, 1−u/2, 2      → 2 − u/2, a tie in [1,2) → 2
 *  4: s, 3s, s         → 3s (subnormal arithmetic)
 *  5: 0, s, 0          → s
 *  6: s, −s, s         → −s
 *  7: 0, min, 0        → with α = 0.5, min/2: a tie between 0 and the smallest subnormal → 0
 *  8: t, 2.5t, −t      → tiny literals (1e-40; 1e-6 for F16) rounded to the dtype
 * NaN / Inf (only with `specials`): 9 chat NaN, 10 cp NaN, 11 chat +Inf, 12 cp −Inf, 13 chat +Inf & cp −Inf (→ NaN).
 * For F32 the ties happen in the f32 arithmetic itself.
 */
export function specialValues(dtype: FloatDtype): SpecialValues {
  const m = dtype === 'BF16' ? 7 : dtype === 'F16' ? 10 : 23;
  const u = 2 ** -m;
  const s = dtype === 'F16' ? 2 ** -20 : 2 ** -132;
  const min = dtype === 'F16' ? 2 ** -24 : dtype === 'BF16' ? 2 ** -133 : 2 ** -149;
  const lit = dtype === 'F16' ? 1e-6 : 1e-40;
  const r = (v: number) => roundScalar(v, dtype);
  return {
    base: [1, 1, -1, 1, s, 0, s, 0, r(lit)],
    chat: [1 + u, 1 + u, -1 - u, 1 - u / 2, 3 * s, s, -s, min, r(2.5 * lit)],
    cp: [2, 2 + 2 * u, -2, 2, s, 0, s, 0, r(-lit)],
    notes: ['tie to even (down)', 'tie to even (up)', 'negative tie', 'tie just below 2', 'subnormal 3s', 'subnormal from zero', 'subnormal sign', 'half smallest subnormal (α=0.5)', 'rounded tiny literals'],
    nanInf: { chat: { 9: NaN, 11: Infinity, 13: Infinity }, cp: { 10: NaN, 12: -Infinity, 13: -Infinity } },
    mantissaBits: m,
    ulp1: u,
    subnormal: s,
    minSubnormal: min,
  };
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

/** The GPT-2 byte → printable-unicode mapping; index = byte. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

/** The 256 byte symbols in conventional vocab order (printable ones first, as GPT-2 / Llama 3). */
function byteSymbolsInOrder(): string[] {
  const map = bytesToUnicode();
  return Array.from({ length: 256 }, (_, b) => map[b]).sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

const SP = 'Ġ';
const NL = 'Ċ';
const CURATED_MERGES: [string, string][] = [
  [SP, 't'], ['h', 'e'], ['i', 'n'], ['e', 'r'], ['a', 'n'], [SP, 'a'], ['r', 'e'], ['o', 'n'], [SP + 't', 'he'], [SP, 's'],
  ['e', 'n'], ['a', 't'], ['o', 'r'], [SP, 'w'], [SP, 'o'], ['e', 's'], ['i', 's'], [SP, 'c'], ['i', 't'], [SP, 'b'],
  ['a', 'r'], ['l', 'l'], [SP, 'h'], ['e', 'd'], [SP, 'f'], ['o', 'u'], [SP, 'm'], ['in', 'g'], [SP, 'p'], [SP, 'i'],
  [SP, 'an'], [SP + 'an', 'd'], [SP, 'd'], [NL, NL], [SP, SP], [SP, 'l'], ['l', 'e'], ['s', 't'],
];

/** The first `count` merges: a curated English list, then letter pairs, then any byte-symbol pairs. */
export function makeMerges(count: number): [string, string][] {
  const have = new Set(byteSymbolsInOrder());
  const out: [string, string][] = [];
  const take = (a: string, b: string) => {
    if (out.length >= count || !have.has(a) || !have.has(b) || have.has(a + b)) return;
    have.add(a + b);
    out.push([a, b]);
  };
  for (const [a, b] of CURATED_MERGES) take(a, b);
  const letters = 'etaoinshrdlcumwfgypbvkjxqz'.split('');
  for (const a of letters) for (const b of letters) take(a, b);
  for (const a of letters) take(SP, a);
  const all = byteSymbolsInOrder();
  for (const a of all) for (const b of all) {
    if (out.length >= count) break;
    take(a, b);
  }
  if (out.length < count) throw new Error(`fixtures: cannot make ${count} merges (at most ${out.length})`);
  return out;
}

export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  /** Token string → id for the special tokens. */
  specialIds: Record<string, number>;
  /** Regular (BPE) tokens by id. */
  regularTokens: string[];
  vocabSize: number;
  bosId: number;
  eosId: number;
}

/**
 * A byte-level BPE tokenizer with `vocabSize` tokens in all: 256 byte symbols, vocabSize − 261 merges,
 * then the 5 special tokens. `chat` adds the chat template and uses <|eot_id|> as eos.
 */
export function makeTokenizer(vocabSize: number, chat: boolean): TokenizerFiles {
  const nRegular = vocabSize - SPECIAL_TOKENS.length;
  if (nRegular < 256) throw new Error(`fixtures: vocab ${vocabSize} is too small; need at least ${256 + SPECIAL_TOKENS.length}`);
  const merges = makeMerges(nRegular - 256);
  const regularTokens = [...byteSymbolsInOrder(), ...merges.map(([a, b]) => a + b)];
  const vocab: Record<string, number> = {};
  regularTokens.forEach((t, i) => (vocab[t] = i));
  const specialIds: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (specialIds[t] = nRegular + i));
  const added = SPECIAL_TOKENS.map((t) => ({ id: specialIds[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const eosToken = chat ? EOT_TOKEN : EOS_TOKEN;
  const addedDecoder: Record<string, unknown> = {};
  for (const t of added) addedDecoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  const tokenizerConfig: Record<string, unknown> = {
    added_tokens_decoder: addedDecoder,
    bos_token: BOS_TOKEN,
    clean_up_tokenization_spaces: true,
    eos_token: eosToken,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 256,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  if (chat) tokenizerConfig.chat_template = CHAT_TEMPLATE;
  return {
    tokenizer,
    tokenizerConfig,
    specialTokensMap: { bos_token: BOS_TOKEN, eos_token: eosToken },
    specialIds,
    regularTokens,
    vocabSize,
    bosId: specialIds[BOS_TOKEN],
    eosId: specialIds[eosToken],
  };
}

// ---------------------------------------------------------------------------------------------
// Tensor layout

export interface ResolvedOptions extends Required<TripletOptions> {
  headDim: number;
}

export function resolveOptions(opts: TripletOptions): ResolvedOptions {
  const r = {
    arch: opts.arch,
    dtype: opts.dtype,
    hiddenSize: opts.hiddenSize ?? DEFAULTS.hiddenSize,
    layers: opts.layers ?? DEFAULTS.layers,
    heads: opts.heads ?? DEFAULTS.heads,
    kvHeads: opts.kvHeads ?? DEFAULTS.kvHeads,
    intermediate: opts.intermediate ?? DEFAULTS.intermediate,
    vocab: opts.vocab ?? DEFAULTS.vocab,
    cpExtraTokens: opts.cpExtraTokens ?? DEFAULTS.cpExtraTokens,
    tiedEmbeddings: opts.tiedEmbeddings ?? false,
    shards: opts.shards ?? DEFAULTS.shards,
    seed: opts.seed ?? DEFAULTS.seed,
    specials: opts.specials ?? false,
    headDim: opts.headDim ?? (opts.hiddenSize ?? DEFAULTS.hiddenSize) / (opts.heads ?? DEFAULTS.heads),
    weightStd: opts.weightStd ?? BASE_STD,
    ropeScaling: opts.ropeScaling ?? null,
    slidingWindow: opts.slidingWindow ?? null,
  };
  if (!['llama', 'qwen2', 'qwen3', 'mistral'].includes(r.arch)) throw new Error(`fixtures: unknown arch "${String(r.arch)}"; use llama, qwen2, qwen3 or mistral`);
  if (r.dtype !== 'BF16' && r.dtype !== 'F16' && r.dtype !== 'F32') throw new Error(`fixtures: unknown dtype "${String(r.dtype)}"; use BF16, F16 or F32`);
  const ints: [string, number, number][] = [['hiddenSize', r.hiddenSize, 16], ['layers', r.layers, 1], ['heads', r.heads, 1], ['kvHeads', r.kvHeads, 1], ['intermediate', r.intermediate, 1], ['vocab', r.vocab, 256 + SPECIAL_TOKENS.length], ['cpExtraTokens', r.cpExtraTokens, 0], ['shards', r.shards, 1], ['seed', r.seed, 0]];
  for (const [k, v, min] of ints) if (!Number.isSafeInteger(v) || v < min) throw new Error(`fixtures: ${k} must be an integer ≥ ${min}, got ${v}`);
  if (opts.headDim === undefined && r.hiddenSize % r.heads !== 0) throw new Error(`fixtures: hiddenSize ${r.hiddenSize} is not divisible by heads ${r.heads}`);
  if (!Number.isSafeInteger(r.headDim) || r.headDim < 2 || r.headDim % 2 !== 0) throw new Error(`fixtures: headDim must be an even integer ≥ 2, got ${r.headDim}`);
  if (r.heads % r.kvHeads !== 0) throw new Error(`fixtures: heads ${r.heads} is not divisible by kvHeads ${r.kvHeads}`);
  return r;
}

type Kind = 'weight' | 'norm' | 'bias' | 'embed';
interface Slot { name: string; shape: number[]; kind: Kind }

/** Tensor names and shapes in HF order, for a vocabulary of `vocab` rows. */
export function tensorLayout(o: ResolvedOptions, vocab: number): Slot[] {
  const h = o.hiddenSize, q = o.heads * o.headDim, kv = o.kvHeads * o.headDim, i = o.intermediate;
  const out: Slot[] = [{ name: 'model.embed_tokens.weight', shape: [vocab, h], kind: 'embed' }];
  for (let l = 0; l < o.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push({ name: `${p}self_attn.q_proj.weight`, shape: [q, h], kind: 'weight' });
    if (o.arch === 'qwen2') out.push({ name: `${p}self_attn.q_proj.bias`, shape: [q], kind: 'bias' });
    out.push({ name: `${p}self_attn.k_proj.weight`, shape: [kv, h], kind: 'weight' });
    if (o.arch === 'qwen2') out.push({ name: `${p}self_attn.k_proj.bias`, shape: [kv], kind: 'bias' });
    out.push({ name: `${p}self_attn.v_proj.weight`, shape: [kv, h], kind: 'weight' });
    if (o.arch === 'qwen2') out.push({ name: `${p}self_attn.v_proj.bias`, shape: [kv], kind: 'bias' });
    out.push({ name: `${p}self_attn.o_proj.weight`, shape: [h, q], kind: 'weight' });
    if (o.arch === 'qwen3') {
      out.push({ name: `${p}self_attn.q_norm.weight`, shape: [o.headDim], kind: 'norm' });
      out.push({ name: `${p}self_attn.k_norm.weight`, shape: [o.headDim], kind: 'norm' });
    }
    out.push({ name: `${p}mlp.gate_proj.weight`, shape: [i, h], kind: 'weight' });
    out.push({ name: `${p}mlp.up_proj.weight`, shape: [i, h], kind: 'weight' });
    out.push({ name: `${p}mlp.down_proj.weight`, shape: [h, i], kind: 'weight' });
    out.push({ name: `${p}input_layernorm.weight`, shape: [h], kind: 'norm' });
    out.push({ name: `${p}post_attention_layernorm.weight`, shape: [h], kind: 'norm' });
  }
  out.push({ name: 'model.norm.weight', shape: [h], kind: 'norm' });
  if (!o.tiedEmbeddings) out.push({ name: 'lm_head.weight', shape: [vocab, h], kind: 'embed' });
  return out;
}

const ARCHITECTURES: Record<TripletOptions['arch'], string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', mistral: 'MistralForCausalLM' };

function makeConfig(o: ResolvedOptions, vocab: number, bosId: number, eosId: number): Record<string, unknown> {
  const common: Record<string, unknown> = {
    architectures: [ARCHITECTURES[o.arch]],
    model_type: o.arch,
    attention_dropout: 0.0,
    bos_token_id: bosId,
    eos_token_id: eosId,
    head_dim: o.headDim,
    hidden_act: 'silu',
    hidden_size: o.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: o.intermediate,
    max_position_embeddings: 256,
    num_attention_heads: o.heads,
    num_hidden_layers: o.layers,
    num_key_value_heads: o.kvHeads,
    rms_norm_eps: 1e-5,
    rope_scaling: o.ropeScaling,
    rope_theta: 10000,
    tie_word_embeddings: o.tiedEmbeddings,
    torch_dtype: TORCH_DTYPE[o.dtype],
    use_cache: true,
    vocab_size: vocab,
  };
  if (o.arch === 'llama') Object.assign(common, { attention_bias: false, mlp_bias: false, pretraining_tp: 1 });
  else if (o.arch === 'mistral') Object.assign(common, { sliding_window: o.slidingWindow });
  else if (o.arch === 'qwen3') Object.assign(common, { attention_bias: false, use_sliding_window: false, sliding_window: null, max_window_layers: o.layers });
  else Object.assign(common, { use_sliding_window: false, sliding_window: 256, max_window_layers: o.layers });
  return common;
}

// ---------------------------------------------------------------------------------------------
// The triplet

const BASE_STD = 0.02;
const DELTA_STD = 0.005;

export interface Triplet {
  base: ModelSpec;
  chat: ModelSpec;
  cp: ModelSpec;
  options: ResolvedOptions;
  tokenizers: { base: TokenizerFiles; chat: TokenizerFiles; cp: TokenizerFiles };
}

/** Build the three models in memory (nothing is written). */
export function buildTriplet(opts: TripletOptions): Triplet {
  const o = resolveOptions(opts);
  const { dtype, seed } = o;
  const cpVocab = o.vocab + o.cpExtraTokens;
  const tok = { base: makeTokenizer(o.vocab, false), chat: makeTokenizer(o.vocab, true), cp: makeTokenizer(cpVocab, false) };
  const nRegular = o.vocab - SPECIAL_TOKENS.length;
  /** cp row → base row (−1 for cp's extra tokens). */
  const cpRowToBase = (r: number) => (r < nRegular ? r : r < nRegular + o.cpExtraTokens ? -1 : r - o.cpExtraTokens);

  const base: FixtureTensor[] = [], chat: FixtureTensor[] = [], cp: FixtureTensor[] = [];
  const cpLayout = tensorLayout(o, cpVocab);
  for (const [idx, slot] of tensorLayout(o, o.vocab).entries()) {
    const n = slot.shape.reduce((a, b) => a * b, 1);
    const b = Rng.for(seed, `base:${slot.name}`).fillNormal(new Float32Array(n), slot.kind === 'norm' ? 1 : 0, o.weightStd);
    const bq = roundToDtype(b, dtype);
    const c = Rng.for(seed, `chat:${slot.name}`).fillNormal(new Float32Array(n), 0, DELTA_STD);
    for (let k = 0; k < n; k++) c[k] += bq[k];
    let p: Float32Array;
    const cpSlot = cpLayout[idx];
    if (slot.kind === 'embed' && o.cpExtraTokens > 0) {
      const h = o.hiddenSize;
      p = new Float32Array(cpVocab * h);
      const delta = Rng.for(seed, `cp:${slot.name}`);
      const fresh = Rng.for(seed, `cp-extra:${slot.name}`);
      for (let r = 0; r < cpVocab; r++) {
        const br = cpRowToBase(r);
        for (let k = 0; k < h; k++) p[r * h + k] = br < 0 ? o.weightStd * fresh.normal() : bq[br * h + k] + DELTA_STD * delta.normal();
      }
    } else {
      p = Rng.for(seed, `cp:${slot.name}`).fillNormal(new Float32Array(n), 0, DELTA_STD);
      for (let k = 0; k < n; k++) p[k] += bq[k];
    }
    if (slot.name === SPECIALS_TENSOR) {
      const sv = specialValues(dtype);
      sv.base.forEach((v, k) => {
        bq[k] = v;
        c[k] = sv.chat[k];
        p[k] = sv.cp[k];
      });
      if (o.specials) {
        for (const [k, v] of Object.entries(sv.nanInf.chat)) c[Number(k)] = v;
        for (const [k, v] of Object.entries(sv.nanInf.cp)) p[Number(k)] = v;
      }
    }
    base.push({ name: slot.name, dtype, shape: slot.shape, data: bq });
    chat.push({ name: slot.name, dtype, shape: slot.shape, data: c });
    cp.push({ name: cpSlot.name, dtype, shape: cpSlot.shape, data: p });
  }

  const spec = (tensors: FixtureTensor[], t: TokenizerFiles): ModelSpec => ({
    config: makeConfig(o, t.vocabSize, t.bosId, t.eosId),
    tensors,
    shards: o.shards,
    files: {
      'generation_config.json': { bos_token_id: t.bosId, eos_token_id: t.eosId, do_sample: false },
      'tokenizer.json': t.tokenizer,
      'tokenizer_config.json': t.tokenizerConfig,
      'special_tokens_map.json': t.specialTokensMap,
    },
  });
  return { base: spec(base, tok.base), chat: spec(chat, tok.chat), cp: spec(cp, tok.cp), options: o, tokenizers: tok };
}

/** Write dir/base, dir/chat and dir/cp. */
export async function writeTriplet(dir: string, opts: TripletOptions): Promise<{ base: string; chat: string; cp: string }> {
  const t = buildTriplet(opts);
  const paths = { base: join(dir, 'base'), chat: join(dir, 'chat'), cp: join(dir, 'cp') };
  await writeModel(paths.base, t.base);
  await writeModel(paths.chat, t.chat);
  await writeModel(paths.cp, t.cp);
  return paths;
}

// ---------------------------------------------------------------------------------------------
// Writing a model folder

function tensorBytes(t: FixtureTensor): number {
  return t.shape.reduce((a, b) => a * b, 1) * dtypeSize(t.dtype);
}

/** Split tensors, in order, into `n` non-empty runs of roughly equal bytes. */
export function splitShards(tensors: FixtureTensor[], n: number): FixtureTensor[][] {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`fixtures: shards must be an integer ≥ 1, got ${n}`);
  if (n > tensors.length) throw new Error(`fixtures: cannot split ${tensors.length} tensors into ${n} shards`);
  const total = tensors.reduce((a, t) => a + tensorBytes(t), 0);
  const target = total / n;
  const out: FixtureTensor[][] = [[]];
  let bytes = 0;
  tensors.forEach((t, i) => {
    const cur = out[out.length - 1];
    const shardsLeft = n - out.length; // after the current one
    const tensorsLeft = tensors.length - i; // including this one
    const mustMove = cur.length > 0 && tensorsLeft === shardsLeft;
    const wantMove = cur.length > 0 && shardsLeft > 0 && bytes + tensorBytes(t) / 2 > target;
    if (mustMove || wantMove) {
      out.push([]);
      bytes = 0;
    }
    out[out.length - 1].push(t);
    bytes += tensorBytes(t);
  });
  return out;
}

export function shardFileName(i: number, n: number): string {
  if (n === 1) return 'model.safetensors';
  const pad = (k: number) => String(k).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

function encodeTensor(t: FixtureTensor, dst: Uint8Array): void {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const len = count * dtypeSize(t.dtype);
  if (t.data instanceof Float32Array) {
    if (!isFloatDtype(t.dtype)) throw new Error(`fixtures: ${t.name}: f32 data given for non-float dtype ${t.dtype}; pass raw bytes`);
    if (t.data.length !== count) throw new Error(`fixtures: ${t.name}: ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    encodeFromF32(t.data, t.dtype, dst, count);
  } else {
    if (t.data.length !== len) throw new Error(`fixtures: ${t.name}: ${t.data.length} bytes for ${len}`);
    dst.set(t.data);
  }
}

const WEIGHT_FILE = /^model(-\d{5}-of-\d{5})?\.safetensors$|^model\.safetensors\.index\.json$/;

/**
 * Write one model folder: config.json, the safetensors shard(s) (+ index when sharded) and `files`.
 * Weight files left from an earlier write into the same folder are removed first.
 */
export async function writeModel(dir: string, spec: ModelSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(dir)) if (WEIGHT_FILE.test(f)) await rm(join(dir, f));
  const n = spec.shards ?? 1;
  const groups = splitShards(spec.tensors, n);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, group] of groups.entries()) {
    const file = shardFileName(i, n);
    const header = buildSafetensorsHeader(group.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })), spec.metadata ?? { format: 'pt' });
    const buf = new Uint8Array(header.fileSize);
    buf.set(header.bytes, 0);
    group.forEach((t, k) => {
      const len = tensorBytes(t);
      encodeTensor(t, buf.subarray(header.offsets[k], header.offsets[k] + len));
      weightMap[t.name] = file;
      totalSize += len;
    });
    await writeFile(join(dir, file), buf);
  }
  if (n > 1) await writeJson(join(dir, 'model.safetensors.index.json'), { metadata: { total_size: totalSize }, weight_map: weightMap });
  if (spec.config) await writeJson(join(dir, 'config.json'), spec.config);
  for (const [name, content] of Object.entries(spec.files ?? {})) {
    if (typeof content === 'string' || content instanceof Uint8Array) await writeFile(join(dir, name), content);
    else await writeJson(join(dir, name), content);
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}

/** The bits `v` is stored as in `dtype` (for tests that compare raw tensor bytes). */
export function storedBits(v: number, dtype: FloatDtype): number {
  const b = f32ToBits(v);
  return dtype === 'F32' ? b : dtype === 'BF16' ? f32BitsToBf16(b) : f32BitsToF16(b);
}
