import { decodeToF32, encodeFromF32, type FloatDtype } from '../dtype.ts';

export interface TermBytes {
  base: Uint8Array;
  baseDtype: FloatDtype;
  chat: Uint8Array;
  chatDtype: FloatDtype;
  /** α, an f32 value. */
  alpha: number;
}

/** Reusable f32 work arrays, so that the merge allocates nothing per chunk. */
export class Scratch {
  acc: Float32Array;
  a: Float32Array;
  b: Float32Array;
  constructor(readonly elements: number) {
    this.acc = new Float32Array(elements);
    this.a = new Float32Array(elements);
    this.b = new Float32Array(elements);
  }
}

/**
 * out = cp + Σ αᵢ·(chatᵢ − baseᵢ), every operation rounded to f32 in that order, then rounded to nearest
 * even into `outDtype`. NaN results are written as the canonical quiet NaN.
 */
export function mergeChunk(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array, s: Scratch): void {
  const acc = s.acc, a = s.a, b = s.b;
  decodeToF32(cp, cpDtype, acc, count);
  for (const t of terms) {
    decodeToF32(t.base, t.baseDtype, a, count);
    decodeToF32(t.chat, t.chatDtype, b, count);
    const alpha = t.alpha;
    // f64 evaluation of one f32 op followed by f32 rounding equals the f32 op (53 ≥ 2·24 + 2), so fround per step is exact f32 arithmetic.
    for (let i = 0; i < count; i++) acc[i] += Math.fround(alpha * Math.fround(b[i] - a[i]));
  }
  encodeFromF32(acc, outDtype, out, count, true);
}

/** Convert `count` elements between float dtypes (copy when equal). */
export function convertChunk(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array, s: Scratch): void {
  if (srcDtype === outDtype) {
    out.set(src.subarray(0, out.length));
    return;
  }
  decodeToF32(src, srcDtype, s.acc, count);
  encodeFromF32(s.acc, outDtype, out, count, false);
}
