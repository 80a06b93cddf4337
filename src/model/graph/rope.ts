/** Rotary position embedding frequencies, with the scalings the preview supports. */

export type RopeScaling =
  | { type: 'default' }
  /** Positions divided by `factor` (same as dividing every frequency). */
  | { type: 'linear'; factor: number }
  /** Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth ramp between. */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface RopeSpec {
  theta: number;
  /** Rotated dimensions per head (even); the preview's families rotate the whole head. */
  dim: number;
  scaling: RopeScaling;
}

/** inv_freq[i] = θ^(−2i/dim) for i < dim/2, then the scaling, in f64 (as transformers' rope init, before its f32 rounding). */
export function ropeInverseFrequencies(rope: RopeSpec): Float64Array {
  const half = rope.dim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / rope.theta ** ((2 * i) / rope.dim);
  const s = rope.scaling;
  if (s.type === 'linear') {
    for (let i = 0; i < half; i++) out[i] /= s.factor;
  } else if (s.type === 'llama3') {
    const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / out[i];
      if (wavelen > lowFreqWavelen) out[i] /= s.factor;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        out[i] = ((1 - smooth) * out[i]) / s.factor + smooth * out[i];
      }
    }
  }
  return out;
}
