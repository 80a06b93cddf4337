import { describe, expect, it } from 'vitest';
import { ropeInverseFrequencies } from './rope.ts';

describe('ropeInverseFrequencies', () => {
  it('default: θ^(−2i/d); linear divides every frequency by the factor', () => {
    const plain = ropeInverseFrequencies({ theta: 10000, dim: 8, scaling: { type: 'default' } });
    expect([...plain]).toEqual([1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75]);
    const linear = ropeInverseFrequencies({ theta: 10000, dim: 8, scaling: { type: 'linear', factor: 4 } });
    expect([...linear]).toEqual([...plain].map((f) => f / 4));
  });

  it('llama3 (Llama 3.1 settings): short wavelengths kept, long ones ÷ factor, a smooth ramp between', () => {
    const f = ropeInverseFrequencies({ theta: 500000, dim: 128, scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } });
    expect(f.length).toBe(64);
    // Values from transformers' _compute_llama3_parameters, recomputed independently in f64.
    const expected: [number, number][] = [[0, 1], [28, 0.0032114459947525913], [29, 0.002166570763503359], [30, 0.0013718935677611381], [34, 0.00017850781276799638], [35, 9.556212353964683e-5], [63, 3.068925988914511e-7]];
    for (const [i, v] of expected) expect(f[i]).toBeCloseTo(v, 15);
    for (let i = 1; i < 64; i++) expect(f[i]).toBeLessThan(f[i - 1]);
  });
});
