import { describe, expect, it } from 'vitest';
import { flagWordsPerGroup, mergeShaderSource, shaderKey, type MergeShaderSpec } from './merge-shader.ts';

// The kernels themselves are checked against the CPU on a device in test/gpu.spec.ts; this is the generator.
describe('mergeShaderSource', () => {
  const spec: MergeShaderSpec = { cp: 'F16', terms: [{ base: 'BF16', chat: 'F16' }, { base: 'F32', chat: 'F32' }], out: 'BF16', nativeF16: false };

  it('one loader per input region, terms accumulated in order, the product kept out of an FMA', () => {
    const src = mergeShaderSource(spec);
    expect(src.match(/^fn load_\w+/gm)).toEqual(['fn load_cp', 'fn load_base0', 'fn load_chat0', 'fn load_base1', 'fn load_chat1']);
    expect(src).toContain('return f16_bits_to_f32(');
    expect(src).toContain('inputs[4u * params.stride + i]');
    expect(src.indexOf('load_base0(i)')).toBeLessThan(src.indexOf('load_base1(i)'));
    expect(src.match(/\^ params\.zero/g)).toHaveLength(2);
    expect(src).toContain('params.alpha[0][1]');
    expect(src).not.toContain('enable f16;');
  });

  it('shader-f16 decoding only where an input is f16 and the device has the extension', () => {
    expect(mergeShaderSource({ ...spec, nativeF16: true })).toMatch(/^enable f16;/);
    expect(mergeShaderSource({ ...spec, nativeF16: true })).not.toContain('fn f16_bits_to_f32');
    expect(mergeShaderSource({ cp: 'BF16', terms: [{ base: 'BF16', chat: 'BF16' }], out: 'F16', nativeF16: true })).not.toContain('enable f16;');
  });

  it('keys tell every variant apart; one flag bit per element', () => {
    expect(shaderKey(spec)).toBe('F16|BF16-F16,F32-F32|BF16|b');
    expect(shaderKey({ ...spec, nativeF16: true })).toBe('F16|BF16-F16,F32-F32|BF16|h');
    expect(flagWordsPerGroup('F32')).toBe(8);
    expect(flagWordsPerGroup('BF16')).toBe(16);
  });
});
