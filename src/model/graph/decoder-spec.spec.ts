import { describe, expect, it } from 'vitest';
import { buildTriplet } from '../../../scripts/fixtures.ts';
import { decoderParameterCount, decoderSpecFromConfig, decoderTensors } from './decoder-spec.ts';

const config = (arch: 'llama' | 'qwen2' | 'qwen3' | 'mistral', over: Record<string, unknown> = {}) => ({ ...buildTriplet({ arch, dtype: 'F32' }).chat.config!, ...over });

describe('decoderSpecFromConfig', () => {
  it('reads the family differences: qwen2 qkv bias, qwen3 q/k norm, mistral sliding window, llama attention_bias', () => {
    const llama = decoderSpecFromConfig(config('llama'));
    expect(llama).toMatchObject({ architecture: 'LlamaForCausalLM', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 128, vocabSize: 300, rmsNormEps: 1e-5, tiedEmbeddings: false, qkNorm: false, slidingWindow: null, bias: { qkv: false, o: false, mlp: false } });
    expect(llama.rope).toEqual({ theta: 10000, dim: 16, scaling: { type: 'default' } });
    expect(decoderSpecFromConfig(config('llama', { attention_bias: true })).bias).toEqual({ qkv: true, o: true, mlp: false });
    expect(decoderSpecFromConfig(config('qwen2')).bias).toEqual({ qkv: true, o: false, mlp: false });
    expect(decoderSpecFromConfig(config('qwen3')).qkNorm).toBe(true);
    expect(decoderSpecFromConfig(config('mistral', { sliding_window: 4096 })).slidingWindow).toBe(4096);
    expect(decoderSpecFromConfig(config('mistral')).slidingWindow).toBeNull();
  });

  it('rope scaling from rope_scaling (legacy "type" too) or transformers 5 rope_parameters', () => {
    const llama3 = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(decoderSpecFromConfig(config('llama', { rope_scaling: llama3, rope_theta: 500000 })).rope).toEqual({ theta: 500000, dim: 16, scaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } });
    expect(decoderSpecFromConfig(config('llama', { rope_scaling: { type: 'linear', factor: 2 } })).rope.scaling).toEqual({ type: 'linear', factor: 2 });
    expect(decoderSpecFromConfig(config('llama', { rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).rope).toEqual({ theta: 1e6, dim: 16, scaling: { type: 'default' } });
  });

  it('says what is not supported, and where', () => {
    expect(() => decoderSpecFromConfig(config('llama', { architectures: ['Gemma2ForCausalLM'] }))).toThrow('config.json, tensor "architectures": this architecture is not supported for preview; expected one of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, found Gemma2ForCausalLM. Merging still works; chat with the merged model in another runtime');
    expect(() => decoderSpecFromConfig(config('llama', { rope_scaling: { rope_type: 'yarn', factor: 4 } }))).toThrow('config.json, tensor "rope_scaling.rope_type": this model variant is not supported for preview; expected "default", "linear" or "llama3", found "yarn"');
    expect(() => decoderSpecFromConfig(config('qwen2', { use_sliding_window: true }))).toThrow('tensor "use_sliding_window": this model variant is not supported for preview');
    expect(() => decoderSpecFromConfig(config('llama', { hidden_act: 'gelu' }))).toThrow('tensor "hidden_act": this model variant is not supported for preview; expected "silu", found "gelu"');
    expect(() => decoderSpecFromConfig(config('llama', { num_key_value_heads: 3 }))).toThrow('config.json, tensor "num_key_value_heads": config.json has a value the preview cannot use; expected a divisor of num_attention_heads (4), found 3');
    expect(() => decoderSpecFromConfig(config('llama', { hidden_size: '64' }))).toThrow('tensor "hidden_size": config.json has a value the preview cannot use; expected an integer in [1, 65536], found "64"');
    expect(() => decoderSpecFromConfig(null)).toThrow('config.json: the model has no config.json');
  });

  it('lists the tensors with HF names and shapes, tied embeddings without lm_head', () => {
    const qwen3 = decoderSpecFromConfig(config('qwen3', { head_dim: 32 }));
    const names = decoderTensors(qwen3).map((t) => t.name);
    expect(names).toContain('model.layers.1.self_attn.k_norm.weight');
    expect(decoderTensors(qwen3).find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([128, 64]);
    const tied = decoderSpecFromConfig(config('llama', { tie_word_embeddings: true }));
    expect(decoderTensors(tied).map((t) => t.name)).not.toContain('lm_head.weight');
    // Every tensor of the fixture, and nothing else.
    const fixture = buildTriplet({ arch: 'qwen2', dtype: 'F32', tiedEmbeddings: true }).chat;
    const spec = decoderSpecFromConfig(fixture.config);
    expect(decoderTensors(spec).map((t) => `${t.name}:${t.shape}`).sort()).toEqual(fixture.tensors.map((t) => `${t.name}:${t.shape}`).sort());
    expect(decoderParameterCount(spec)).toBe(fixture.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0));
  });
});
