import { dtypeSize, f32BitsToBf16, f32BitsToF16, f32ToBits, type FloatDtype } from '../core/dtype.ts';
import type { TermBytes } from '../core/merge/kernel.ts';

/** A small deterministic generator (mulberry32). */
export class SeededRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

export interface MergeCase {
  count: number;
  cp: Uint8Array;
  cpDtype: FloatDtype;
  terms: TermBytes[];
}

const SPECIAL_F32 = [
  0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xffffffff,
  0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00400000, 0x00800000, 0x80800000, 0x00800001, 0x01000000,
  0x7f7fffff, 0xff7fffff, 0x7f000000, 0x3f800000, 0xbf800000,
];

/**
 * Inputs that make a merge kernel's float behaviour show: ordinary weights, raw random bit patterns
 * (NaN payloads, ±Inf, subnormals, huge values), differences and products that land in the subnormal
 * range or overflow, cp ≈ −α·(chat − base) (a fused multiply-add gives another result), results on
 * rounding ties of bf16 and f16, and results in f16's subnormal and overflow range.
 */
export function trickyMergeCase(rng: SeededRandom, count: number, cpDtype: FloatDtype, terms: { baseDtype: FloatDtype; chatDtype: FloatDtype; alpha: number }[]): MergeCase {
  const cp = new Float32Array(count);
  const cpBits = new Uint32Array(cp.buffer);
  const bases = terms.map(() => new Float32Array(count));
  const chats = terms.map(() => new Float32Array(count));
  const raw: Map<Float32Array, Set<number>> = new Map();
  const rawBits = (arr: Float32Array, i: number, bits: number) => {
    new Uint32Array(arr.buffer)[i] = bits;
    if (!raw.has(arr)) raw.set(arr, new Set());
    raw.get(arr)!.add(i);
  };
  const weight = () => (rng.next() - 0.5) * 0.08 * 2 ** (rng.int(9) - 4);
  for (let i = 0; i < count; i++) {
    const kind = rng.int(10);
    for (let t = 0; t < terms.length; t++) {
      const b = weight();
      bases[t][i] = b;
      chats[t][i] = b + (rng.next() - 0.5) * 0.004;
    }
    cp[i] = weight();
    const t = rng.int(terms.length);
    const alpha = Math.fround(terms[t].alpha);
    switch (kind) {
      case 0: // raw random bits anywhere
        rawBits(rng.pick([cp, bases[t], chats[t]]), i, rng.u32());
        break;
      case 1: // special values
        rawBits(rng.pick([cp, bases[t], chats[t]]), i, rng.pick(SPECIAL_F32));
        break;
      case 2: {
        // a difference in the subnormal range: tiny neighbours
        const x = 2 ** -(100 + rng.int(26)) * (1 + rng.next());
        bases[t][i] = x;
        chats[t][i] = Math.fround(x) + 2 ** -(126 + rng.int(20)) * (rng.next() < 0.5 ? -1 : 1);
        break;
      }
      case 3: {
        // a product in (or near) the subnormal range: |α·d| around 2^-126
        const d = (2 ** (-126 + rng.int(8) - 4) / Math.max(Math.abs(alpha), 2 ** -60)) * (1 + rng.next());
        bases[t][i] = 0.25;
        chats[t][i] = 0.25 + d;
        break;
      }
      case 4: {
        // cp ≈ −α·(chat − base): exact cancellation without FMA, the product's rounding error with it
        const d = Math.fround(chats[t][i]) - Math.fround(bases[t][i]);
        const p = Math.fround(alpha * Math.fround(d));
        cp[i] = -p;
        if (rng.next() < 0.5) cpBits[i] += rng.pick([1, -1, 2]);
        break;
      }
      case 5: {
        // a result on a rounding tie of bf16 (low 16 bits 0x8000) or f16 (low 13 bits 0x1000), chat = base
        for (let k = 0; k < terms.length; k++) chats[k][i] = bases[k][i];
        const bits = f32ToBits(weight() * 2 ** (rng.int(20) - 10));
        cpBits[i] = rng.next() < 0.5 ? (bits & 0xffff0000) | 0x8000 : (bits & 0xffffe000) | 0x1000;
        break;
      }
      case 6: // f16 subnormal output range and f16 overflow
        cp[i] = rng.next() < 0.5 ? (rng.next() - 0.5) * 2 ** -(12 + rng.int(16)) : (rng.next() < 0.5 ? 1 : -1) * (65504 + (rng.next() - 0.3) * 64);
        break;
      case 7: // an overflow in the sum
        cp[i] = 3e38;
        for (let k = 0; k < terms.length; k++) {
          bases[k][i] = -2e38;
          chats[k][i] = 2e38;
        }
        break;
      default: // ordinary weights
    }
  }
  const encode = (values: Float32Array, dtype: FloatDtype) => {
    const bits = new Uint32Array(values.buffer);
    const bytes = new Uint8Array(count * dtypeSize(dtype));
    const rawIdx = raw.get(values);
    if (dtype === 'F32') new Uint32Array(bytes.buffer).set(bits);
    else {
      const o = new Uint16Array(bytes.buffer);
      for (let i = 0; i < count; i++) {
        // raw patterns keep their top 16 bits (subnormals, NaN payloads survive); values round
        if (rawIdx?.has(i)) o[i] = dtype === 'BF16' ? bits[i] >>> 16 : (bits[i] >>> 16) ^ (bits[i] & 0xffff);
        else o[i] = dtype === 'BF16' ? f32BitsToBf16(bits[i]) : f32BitsToF16(bits[i]);
      }
    }
    return bytes;
  };
  return {
    count,
    cp: encode(cp, cpDtype),
    cpDtype,
    terms: terms.map((t, k) => ({ base: encode(bases[k], t.baseDtype), baseDtype: t.baseDtype, chat: encode(chats[k], t.chatDtype), chatDtype: t.chatDtype, alpha: Math.fround(t.alpha) })),
  };
}

/** Null when `a` and `b` hold the same bytes, else the first element (of `size` bytes) where they differ, both values in hex. */
export function firstDifference(a: Uint8Array, b: Uint8Array, size: number, names: [string, string] = ['gpu', 'cpu']): string | null {
  const at = a.length === b.length ? a.findIndex((v, i) => v !== b[i]) : Math.min(a.length, b.length);
  if (at < 0) return null;
  const e = Math.floor(at / size);
  const hex = (x: Uint8Array) => Array.from(x.subarray(e * size, (e + 1) * size)).reverse().map((v) => v.toString(16).padStart(2, '0')).join('');
  return `element ${e}: ${names[0]} 0x${hex(a)}, ${names[1]} 0x${hex(b)}`;
}
