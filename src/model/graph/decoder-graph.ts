/**
 * Builds the ONNX graph of a llama-like decoder (Llama, Mistral, Qwen2, Qwen3) from a DecoderSpec.
 *
 * Plain ONNX ops only (opset 17), so the wasm and WebGPU EPs of onnxruntime-web run the same graph
 * with the same semantics; ORT's own optimiser fuses the RMSNorm pattern into
 * SimplifiedLayerNormalization and Transpose+MatMul into FusedMatMul where its EP has them.
 * Weights are external-data initializers: the graph bytes depend on the config only, so re-merged
 * weights need no rebuild.
 *
 * Inputs:  input_ids [batch, seq] int64, attention_mask [batch, total] int64, position_ids [batch, seq] int64,
 *          past_key_values.N.{key,value} [batch, kv_heads, past, head_dim]
 * Outputs: logits [batch, seq | 1, vocab] float32, present.N.{key,value} [batch, kv_heads, total, head_dim]
 */
import { TOOL_VERSION } from '../../core/version.ts';
import { decoderTensors, layerPrefix, type DecoderSpec } from './decoder-spec.ts';
import { OnnxGraph, type ElemType } from './onnx-graph.ts';
import { ropeInverseFrequencies } from './rope.ts';

export const OPSET = 17;
/** Lowest f32: a masked score that stays finite, so a fully masked (padding) row gives no NaN. */
const MASKED = -3.4028234663852886e38;

export interface DecoderGraphOptions {
  /** Weight and activation dtype: f32 for the wasm EP; f16 for WebGPU where shader-f16 exists. Logits are f32 either way. */
  weightDtype?: 'f32' | 'f16';
  /** Only the last position's logits (generation); 'all' for tests and scoring. Default 'last'. */
  logits?: 'all' | 'last';
  /** Largest external data file; tensors are never split across files. Default 1 GiB. */
  maxFileBytes?: number;
}

/** Where one checkpoint tensor goes in the external data. */
export interface WeightSlot {
  /** Tensor name in the checkpoint (and initializer name in the graph). */
  name: string;
  shape: number[];
  dtype: 'f32' | 'f16';
  file: string;
  offset: number;
  byteLength: number;
}

export interface DecoderGraph {
  spec: DecoderSpec;
  /** ModelProto bytes; identical for any weights of the same config and options. */
  modelBytes: Uint8Array;
  weights: WeightSlot[];
  /** External data files, in order, with their sizes. */
  files: { path: string; byteLength: number }[];
  /** Element type of the activations and of past/present tensors. */
  kvType: 'float32' | 'float16';
  logits: 'all' | 'last';
  nodeCount: number;
}

const ALIGN = 64;

export function buildDecoderGraph(spec: DecoderSpec, opts: DecoderGraphOptions = {}): DecoderGraph {
  const weightDtype = opts.weightDtype ?? 'f32';
  const logitsMode = opts.logits ?? 'last';
  const maxFileBytes = opts.maxFileBytes ?? 2 ** 30;
  const act: ElemType = weightDtype === 'f16' ? 'float16' : 'float32';
  const elemSize = weightDtype === 'f16' ? 2 : 4;

  // Lay the weights out in files first: the initializers point into them.
  const weights: WeightSlot[] = [];
  const files: { path: string; byteLength: number }[] = [];
  for (const t of decoderTensors(spec)) {
    const byteLength = t.shape.reduce((a, b) => a * b, 1) * elemSize;
    let file = files[files.length - 1];
    if (!file || (file.byteLength > 0 && file.byteLength + byteLength > maxFileBytes)) {
      file = { path: `weights-${files.length}.bin`, byteLength: 0 };
      files.push(file);
    }
    const offset = file.byteLength;
    weights.push({ name: t.name, shape: t.shape, dtype: weightDtype, file: file.path, offset, byteLength });
    file.byteLength = Math.ceil((offset + byteLength) / ALIGN) * ALIGN;
  }

  const g = new OnnxGraph(`${spec.architecture} preview`);
  const w = new Map<string, string>();
  for (const s of weights) w.set(s.name, g.external(s.name, act, s.shape, { file: s.file, offset: s.offset, byteLength: s.byteLength }));
  const b = new DecoderLayerBuilder(g, spec, act, w);

  const inputIds = g.input('input_ids', 'int64', ['batch', 'sequence']);
  const attentionMask = g.input('attention_mask', 'int64', ['batch', 'total_sequence']);
  const positionIds = g.input('position_ids', 'int64', ['batch', 'sequence']);
  const pastDims = ['batch', spec.numKvHeads, 'past_sequence', spec.headDim];
  const past = Array.from({ length: spec.numLayers }, (_, l) => ({
    key: g.input(`past_key_values.${l}.key`, act, pastDims),
    value: g.input(`past_key_values.${l}.value`, act, pastDims),
  }));

  g.scope = '/model';
  b.prepare(inputIds, attentionMask, positionIds);
  let x = g.op1('Reshape', [g.op1('Gather', [w.get('model.embed_tokens.weight')!, inputIds], { axis: { i: 0 } }), g.ints([-1, spec.hiddenSize])]);
  for (let l = 0; l < spec.numLayers; l++) {
    g.scope = `/model/layers.${l}`;
    x = b.layer(l, x, past[l], { key: `present.${l}.key`, value: `present.${l}.value` });
  }
  g.scope = '/model';
  x = b.rmsNorm(x, w.get('model.norm.weight')!);
  let seqShape = b.batchSeqShape;
  if (logitsMode === 'last') {
    // [N, H] → [B, S, H] → last position [B, 1, H]
    const x3 = g.op1('Reshape', [x, g.op1('Concat', [b.batchSeqShape, g.ints([spec.hiddenSize])], { axis: { i: 0 } })]);
    x = g.op1('Reshape', [g.op1('Slice', [x3, g.ints([-1]), g.ints([2 ** 62]), g.ints([1])]), g.ints([-1, spec.hiddenSize])]);
    seqShape = g.op1('Concat', [g.op1('Shape', [inputIds], { end: { i: 1 } }), g.ints([1])], { axis: { i: 0 } });
  }
  const lmHead = w.get(spec.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
  // Gemm with transB reads the [vocab, hidden] matrix as stored, so tied embeddings share one copy.
  let logits2d = g.op1('Gemm', [x, lmHead], { transB: { i: 1 } });
  if (act === 'float16') logits2d = g.op1('Cast', [logits2d], { to: { i: 1 } });
  g.op1('Reshape', [logits2d, g.op1('Concat', [seqShape, g.ints([spec.vocabSize])], { axis: { i: 0 } })], {}, 'logits');

  g.output('logits', 'float32', ['batch', logitsMode === 'last' ? 1 : 'sequence', spec.vocabSize]);
  for (let l = 0; l < spec.numLayers; l++) {
    const dims = ['batch', spec.numKvHeads, 'total_sequence', spec.headDim];
    g.output(`present.${l}.key`, act, dims);
    g.output(`present.${l}.value`, act, dims);
  }
  const modelBytes = g.encode({
    opset: OPSET,
    producerVersion: TOOL_VERSION,
    metadata: { architecture: spec.architecture, weight_dtype: weightDtype, logits: logitsMode },
  });
  return { spec, modelBytes, weights, files, kvType: act, logits: logitsMode, nodeCount: g.nodeCount };
}

/** The common decoder layer; the spec's flags (bias, q/k norm, sliding window) are the per-family overrides. */
class DecoderLayerBuilder {
  /** [B, S] as an int64 shape tensor. */
  batchSeqShape = '';
  private qShape = '';
  private kvShape = '';
  private cos = '';
  private sin = '';
  private maskBias = '';
  private readonly groups: number;

  constructor(private readonly g: OnnxGraph, private readonly spec: DecoderSpec, private readonly act: ElemType, private readonly w: Map<string, string>) {
    this.groups = spec.numHeads / spec.numKvHeads;
  }

  /** Shapes, rotary tables and the attention bias, computed once and shared by every layer. */
  prepare(inputIds: string, attentionMask: string, positionIds: string): void {
    const { g, spec } = this;
    this.batchSeqShape = g.op1('Shape', [inputIds]);
    this.qShape = g.op1('Concat', [this.batchSeqShape, g.ints([spec.numHeads, spec.headDim])], { axis: { i: 0 } });
    this.kvShape = g.op1('Concat', [this.batchSeqShape, g.ints([spec.numKvHeads, spec.headDim])], { axis: { i: 0 } });

    // cos/sin of position × inv_freq: [B, S, 1, D/2], broadcast over heads of [B, S, heads, D/2].
    const invFreq = ropeInverseFrequencies(spec.rope);
    const positions = g.op1('Unsqueeze', [g.op1('Cast', [positionIds], { to: { i: 1 } }), g.ints([2])]);
    const freqs = g.op1('Unsqueeze', [g.op1('Mul', [positions, g.constant('float32', [invFreq.length], invFreq)]), g.ints([2])]);
    this.cos = this.toAct(g.op1('Cos', [freqs]));
    this.sin = this.toAct(g.op1('Sin', [freqs]));

    // Query i sits at absolute index past + i; key j is visible when j ≤ past + i, it is not padding,
    // and (sliding window) past + i − j < window.
    const scalar = (v: string) => g.op1('Squeeze', [v, g.ints([0])]);
    const seqLen = g.op1('Shape', [inputIds], { start: { i: 1 }, end: { i: 2 } });
    const totalLen = g.op1('Shape', [attentionMask], { start: { i: 1 }, end: { i: 2 } });
    const pastLen = g.op1('Sub', [totalLen, seqLen]);
    const one = g.scalar('int64', 1);
    const queryIndex = g.op1('Unsqueeze', [g.op1('Range', [scalar(pastLen), scalar(totalLen), one]), g.ints([1])]); // [S, 1]
    const keyIndex = g.op1('Range', [g.scalar('int64', 0), scalar(totalLen), one]); // [T]
    // Nested Where rather than And: the WebGPU EP has Where but no And.
    const notPadding = g.op1('Unsqueeze', [g.op1('Cast', [attentionMask], { to: { i: 9 } }), g.ints([1, 2])]); // [B, 1, 1, T]
    const masked = g.scalar('float32', MASKED);
    let bias = g.op1('Where', [notPadding, g.scalar('float32', 0), masked]);
    bias = g.op1('Where', [g.op1('LessOrEqual', [keyIndex, queryIndex]), bias, masked]); // [B, 1, S, T]
    if (spec.slidingWindow !== null) {
      const distance = g.op1('Sub', [queryIndex, keyIndex]);
      bias = g.op1('Where', [g.op1('Less', [distance, g.scalar('int64', spec.slidingWindow)]), bias, masked]);
    }
    // Scores are laid out [B, kv_heads, groups·S, T] (see attention): repeat the S rows per group.
    if (this.groups > 1) bias = g.op1('Tile', [bias, g.ints([1, 1, this.groups, 1])]);
    this.maskBias = bias;
  }

  layer(l: number, x: string, past: { key: string; value: string }, present: { key: string; value: string }): string {
    const { g } = this;
    const p = layerPrefix(l);
    g.scope = `/model/layers.${l}/attn`;
    const attnOut = this.attention(p, this.rmsNorm(x, this.w.get(`${p}.input_layernorm.weight`)!), past, present);
    const h = g.op1('Add', [x, attnOut]);
    g.scope = `/model/layers.${l}/mlp`;
    return g.op1('Add', [h, this.mlp(p, this.rmsNorm(h, this.w.get(`${p}.post_attention_layernorm.weight`)!))]);
  }

  /** weight · x / sqrt(mean(x²) + eps) over the last axis, in f32 (the pattern ORT fuses into SimplifiedLayerNormalization). */
  rmsNorm(x: string, weight: string): string {
    const { g } = this;
    const x32 = this.act === 'float16' ? g.op1('Cast', [x], { to: { i: 1 } }) : x;
    const meanSquare = g.op1('ReduceMean', [g.op1('Pow', [x32, g.scalar('float32', 2)])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const rms = g.op1('Sqrt', [g.op1('Add', [meanSquare, g.scalar('float32', this.spec.rmsNormEps)])]);
    return g.op1('Mul', [this.toAct(g.op1('Div', [x32, rms])), weight]);
  }

  /** x [N, in] → [N, out] with the HF [out, in] weight as stored. */
  private linear(x: string, name: string, bias: boolean): string {
    const inputs = [x, this.w.get(`${name}.weight`)!];
    if (bias) inputs.push(this.w.get(`${name}.bias`)!);
    return this.g.op1('Gemm', inputs, { transB: { i: 1 } });
  }

  private attention(p: string, h: string, past: { key: string; value: string }, present: { key: string; value: string }): string {
    const { g, spec } = this;
    const { numHeads: H, numKvHeads: KV, headDim: D } = spec;
    let q = g.op1('Reshape', [this.linear(h, `${p}.self_attn.q_proj`, spec.bias.qkv), this.qShape]); // [B, S, H, D]
    let k = g.op1('Reshape', [this.linear(h, `${p}.self_attn.k_proj`, spec.bias.qkv), this.kvShape]);
    const v = g.op1('Reshape', [this.linear(h, `${p}.self_attn.v_proj`, spec.bias.qkv), this.kvShape]);
    if (spec.qkNorm) {
      q = this.rmsNorm(q, this.w.get(`${p}.self_attn.q_norm.weight`)!);
      k = this.rmsNorm(k, this.w.get(`${p}.self_attn.k_norm.weight`)!);
    }
    const toHeads = (t: string) => g.op1('Transpose', [t], { perm: { ints: [0, 2, 1, 3] } }); // [B, heads, S, D]
    const keys = g.op1('Concat', [past.key, toHeads(this.rotate(k))], { axis: { i: 2 } }, present.key); // [B, KV, T, D]
    const values = g.op1('Concat', [past.value, toHeads(v)], { axis: { i: 2 } }, present.value);

    // Grouped-query attention without repeating K/V: query head h = kv·G + g, so [B, H, S, D] is
    // [B, KV, G·S, D] in memory, and each kv head meets its G query heads in one MatMul.
    const queries = g.op1('Reshape', [toHeads(this.rotate(q)), g.ints([0, KV, -1, D])]);
    const scaled = g.op1('Mul', [queries, g.scalar(this.act, 1 / Math.sqrt(D))]);
    let scores = g.op1('MatMul', [scaled, g.op1('Transpose', [keys], { perm: { ints: [0, 1, 3, 2] } })]); // [B, KV, G·S, T]
    if (this.act === 'float16') scores = g.op1('Cast', [scores], { to: { i: 1 } });
    const probs = this.toAct(g.op1('Softmax', [g.op1('Add', [scores, this.maskBias])], { axis: { i: -1 } }));
    const context = g.op1('Reshape', [g.op1('MatMul', [probs, values]), g.ints([0, H, -1, D])]); // [B, H, S, D]
    const merged = g.op1('Reshape', [g.op1('Transpose', [context], { perm: { ints: [0, 2, 1, 3] } }), g.ints([-1, H * D])]);
    return this.linear(merged, `${p}.self_attn.o_proj`, spec.bias.o);
  }

  /** Rotate halves (x1, x2) of each head: (x1·cos − x2·sin, x2·cos + x1·sin). x is [B, S, heads, D]. */
  private rotate(x: string): string {
    const { g } = this;
    const half = this.spec.headDim / 2;
    const x1 = g.op1('Slice', [x, g.ints([0]), g.ints([half]), g.ints([3])]);
    const x2 = g.op1('Slice', [x, g.ints([half]), g.ints([2 * half]), g.ints([3])]);
    const r1 = g.op1('Sub', [g.op1('Mul', [x1, this.cos]), g.op1('Mul', [x2, this.sin])]);
    const r2 = g.op1('Add', [g.op1('Mul', [x2, this.cos]), g.op1('Mul', [x1, this.sin])]);
    return g.op1('Concat', [r1, r2], { axis: { i: 3 } });
  }

  private mlp(p: string, h: string): string {
    const { g, spec } = this;
    const gate = this.linear(h, `${p}.mlp.gate_proj`, spec.bias.mlp);
    const up = this.linear(h, `${p}.mlp.up_proj`, spec.bias.mlp);
    const silu = g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]);
    return this.linear(g.op1('Mul', [silu, up]), `${p}.mlp.down_proj`, spec.bias.mlp);
  }

  private toAct(x: string): string {
    return this.act === 'float16' ? this.g.op1('Cast', [x], { to: { i: 10 } }) : x;
  }
}
