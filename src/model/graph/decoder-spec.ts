/**
 * What the preview needs to know about a decoder-only checkpoint, read from config.json.
 * The common llama-like decoder is the default; each family states only how it differs.
 */
import { ChatvecError } from '../../core/errors.ts';
import type { RopeScaling, RopeSpec } from './rope.ts';

export interface DecoderSpec {
  architecture: string;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  rope: RopeSpec;
  /** lm_head reuses model.embed_tokens.weight. */
  tiedEmbeddings: boolean;
  /** Which projections carry a `.bias` tensor. */
  bias: { qkv: boolean; o: boolean; mlp: boolean };
  /** Qwen3: RMSNorm over each head of q and k (weights [head_dim]) before the rotation. */
  qkNorm: boolean;
  /** Keys older than this many positions are masked (Mistral v0.1); null = full causal attention. */
  slidingWindow: number | null;
}

type Config = Record<string, unknown>;

/** How one architecture family differs from the common decoder. */
interface DecoderFamily {
  modelType: string;
  customize(spec: DecoderSpec, config: Config, read: ConfigReader): void;
}

/** The architectures the in-tab preview can run. Facts only; the graph builder reads the resulting spec. */
export const DECODER_FAMILIES: Record<string, DecoderFamily> = {
  LlamaForCausalLM: {
    modelType: 'llama',
    customize(spec, config, read) {
      const attentionBias = read.bool('attention_bias', false);
      spec.bias = { qkv: attentionBias, o: attentionBias, mlp: read.bool('mlp_bias', false) };
    },
  },
  MistralForCausalLM: {
    modelType: 'mistral',
    customize(spec, config, read) {
      spec.slidingWindow = read.optionalInt('sliding_window', 1, 1 << 30);
    },
  },
  Qwen2ForCausalLM: {
    modelType: 'qwen2',
    customize(spec, config, read) {
      spec.bias = { qkv: true, o: false, mlp: false };
      rejectQwenSlidingWindow(config, read);
    },
  },
  Qwen3ForCausalLM: {
    modelType: 'qwen3',
    customize(spec, config, read) {
      const attentionBias = read.bool('attention_bias', false);
      spec.bias = { qkv: attentionBias, o: attentionBias, mlp: false };
      spec.qkNorm = true;
      rejectQwenSlidingWindow(config, read);
    },
  },
};

export const SUPPORTED_ARCHITECTURES = Object.keys(DECODER_FAMILIES);

function rejectQwenSlidingWindow(config: Config, read: ConfigReader): void {
  // Qwen applies the window only to some layers; no released chat model turns it on.
  if (read.bool('use_sliding_window', false)) read.unsupported('use_sliding_window', 'false', 'true');
}

/** Read config.json into a DecoderSpec, or throw a ChatvecError saying what is not supported. */
export function decoderSpecFromConfig(config: Config | null, file = 'config.json'): DecoderSpec {
  if (!config) throw new ChatvecError('the model has no config.json', { code: 'preview-no-config', file, expected: 'a config.json beside the weights', hint: 'The preview builds the network from config.json; add it to the folder' });
  const read = new ConfigReader(config, file);
  const archs = config.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const family = architecture ? DECODER_FAMILIES[architecture] : undefined;
  if (!family) {
    throw new ChatvecError('this architecture is not supported for preview', {
      code: 'preview-unsupported-architecture', file, tensor: 'architectures',
      expected: `one of ${SUPPORTED_ARCHITECTURES.join(', ')}`, found: architecture ?? JSON.stringify(archs ?? null),
      hint: 'Merging still works; chat with the merged model in another runtime',
    });
  }
  const hiddenAct = config.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') read.unsupported('hidden_act', '"silu"', JSON.stringify(hiddenAct));

  const hiddenSize = read.int('hidden_size', 1, 1 << 16);
  const numHeads = read.int('num_attention_heads', 1, 1024);
  const numKvHeads = read.optionalInt('num_key_value_heads', 1, 1024) ?? numHeads;
  if (numHeads % numKvHeads !== 0) read.invalid('num_key_value_heads', `a divisor of num_attention_heads (${numHeads})`, String(numKvHeads));
  const headDim = read.optionalInt('head_dim', 2, 1024) ?? hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) read.invalid('head_dim', 'an even number of dimensions per head', String(headDim));
  const spec: DecoderSpec = {
    architecture: architecture!,
    modelType: typeof config.model_type === 'string' ? config.model_type : family.modelType,
    hiddenSize,
    numLayers: read.int('num_hidden_layers', 1, 1024),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: read.int('intermediate_size', 1, 1 << 20),
    vocabSize: read.int('vocab_size', 1, 1 << 23),
    rmsNormEps: read.number('rms_norm_eps', 1e-6),
    rope: readRope(config, read, headDim),
    tiedEmbeddings: read.bool('tie_word_embeddings', false),
    bias: { qkv: false, o: false, mlp: false },
    qkNorm: false,
    slidingWindow: null,
  };
  family.customize(spec, config, read);
  return spec;
}

function readRope(config: Config, read: ConfigReader, headDim: number): RopeSpec {
  // transformers ≥ 5 keeps θ and the scaling together in rope_parameters.
  const params = isObject(config.rope_parameters) ? config.rope_parameters : null;
  const scalingField = params ? 'rope_parameters' : 'rope_scaling';
  const raw = params ?? (isObject(config.rope_scaling) ? config.rope_scaling : null);
  const theta = params && typeof params.rope_theta === 'number' ? params.rope_theta : read.number('rope_theta', 10000);
  if (!(theta > 1)) read.invalid('rope_theta', 'a number > 1', String(theta));
  if (config.partial_rotary_factor !== undefined && config.partial_rotary_factor !== 1) read.unsupported('partial_rotary_factor', '1', JSON.stringify(config.partial_rotary_factor));
  let scaling: RopeScaling = { type: 'default' };
  if (raw) {
    const type = raw.rope_type ?? raw.type ?? 'default';
    const num = (key: string, min: number): number => {
      const v = raw[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) read.invalid(`${scalingField}.${key}`, `a number ≥ ${min}`, JSON.stringify(v ?? null));
      return v as number;
    };
    if (type === 'default') scaling = { type: 'default' };
    else if (type === 'linear') scaling = { type: 'linear', factor: num('factor', 1) };
    else if (type === 'llama3') {
      scaling = { type: 'llama3', factor: num('factor', 1), lowFreqFactor: num('low_freq_factor', 0), highFreqFactor: num('high_freq_factor', 0), originalMaxPositions: num('original_max_position_embeddings', 1) };
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) read.invalid(`${scalingField}.high_freq_factor`, `more than low_freq_factor (${scaling.lowFreqFactor})`, String(scaling.highFreqFactor));
    } else read.unsupported(`${scalingField}.rope_type`, '"default", "linear" or "llama3"', JSON.stringify(type));
  }
  return { theta, dim: headDim, scaling };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Typed reads of config fields; every failure names the file and the field. */
class ConfigReader {
  constructor(private readonly config: Config, private readonly file: string) {}
  int(key: string, min: number, max: number): number {
    const v = this.optionalInt(key, min, max);
    if (v === null) this.invalid(key, `an integer in [${min}, ${max}]`, 'nothing');
    return v;
  }
  optionalInt(key: string, min: number, max: number): number | null {
    const v = this.config[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.invalid(key, `an integer in [${min}, ${max}]`, JSON.stringify(v));
    return v;
  }
  number(key: string, fallback: number): number {
    const v = this.config[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.invalid(key, 'a finite number', JSON.stringify(v));
    return v;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.config[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.invalid(key, 'true or false', JSON.stringify(v));
    return v;
  }
  invalid(key: string, expected: string, found: string): never {
    throw new ChatvecError('config.json has a value the preview cannot use', { code: 'preview-bad-config', file: this.file, tensor: key, expected, found });
  }
  unsupported(key: string, expected: string, found: string): never {
    throw new ChatvecError('this model variant is not supported for preview', { code: 'preview-unsupported-config', file: this.file, tensor: key, expected, found, hint: 'Merging still works; chat with the merged model in another runtime' });
  }
}

export interface DecoderTensor {
  name: string;
  shape: number[];
}

/** Every tensor the decoder reads, with HF names and shapes, in a stable order. */
export function decoderTensors(spec: DecoderSpec): DecoderTensor[] {
  const h = spec.hiddenSize, q = spec.numHeads * spec.headDim, kv = spec.numKvHeads * spec.headDim, i = spec.intermediateSize;
  const out: DecoderTensor[] = [{ name: 'model.embed_tokens.weight', shape: [spec.vocabSize, h] }];
  const linear = (name: string, outDim: number, inDim: number, bias: boolean) => {
    out.push({ name: `${name}.weight`, shape: [outDim, inDim] });
    if (bias) out.push({ name: `${name}.bias`, shape: [outDim] });
  };
  for (let l = 0; l < spec.numLayers; l++) {
    const p = layerPrefix(l);
    out.push({ name: `${p}.input_layernorm.weight`, shape: [h] });
    linear(`${p}.self_attn.q_proj`, q, h, spec.bias.qkv);
    linear(`${p}.self_attn.k_proj`, kv, h, spec.bias.qkv);
    linear(`${p}.self_attn.v_proj`, kv, h, spec.bias.qkv);
    if (spec.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [spec.headDim] });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [spec.headDim] });
    }
    linear(`${p}.self_attn.o_proj`, h, q, spec.bias.o);
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [h] });
    linear(`${p}.mlp.gate_proj`, i, h, spec.bias.mlp);
    linear(`${p}.mlp.up_proj`, i, h, spec.bias.mlp);
    linear(`${p}.mlp.down_proj`, h, i, spec.bias.mlp);
  }
  out.push({ name: 'model.norm.weight', shape: [h] });
  if (!spec.tiedEmbeddings) out.push({ name: 'lm_head.weight', shape: [spec.vocabSize, h] });
  return out;
}

export function layerPrefix(layer: number): string {
  return `model.layers.${layer}`;
}

/** Parameters the decoder reads (tied embeddings counted once). */
export function decoderParameterCount(spec: DecoderSpec): number {
  return decoderTensors(spec).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
}
