/**
 * An independent reference for the merge, written another way than the engine: whole tensors in memory,
 * values decoded by formula into f64, every f32 operation emulated as an f64 operation followed by a
 * hand-written round-to-nearest-even, and output bits composed field by field.
 */
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RefTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

export function readModel(dir: string): Map<string, RefTensor> {
  const files = existsSync(join(dir, 'model.safetensors.index.json'))
    ? [...new Set(Object.values(JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')).weight_map as Record<string, string>))]
    : readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  const out = new Map<string, RefTensor>();
  for (const f of files) {
    const buf = new Uint8Array(readFileSync(join(dir, f)));
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
    for (const [name, e] of Object.entries(header) as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][]) {
      if (name === '__metadata__') continue;
      out.set(name, { dtype: e.dtype, shape: e.shape, bytes: buf.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) });
    }
  }
  return out;
}

const FORMATS: Record<string, { exp: number; mant: number; size: number }> = {
  F32: { exp: 8, mant: 23, size: 4 },
  F16: { exp: 5, mant: 10, size: 2 },
  BF16: { exp: 8, mant: 7, size: 2 },
};

function readBits(bytes: Uint8Array, i: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + bytes[i * size + k];
  return v;
}

/** Value of a float encoded with the given field widths. */
export function decodeValue(bits: number, dtype: string): number {
  const f = FORMATS[dtype];
  const bias = 2 ** (f.exp - 1) - 1;
  const sign = Math.floor(bits / 2 ** (f.exp + f.mant)) ? -1 : 1;
  const e = Math.floor(bits / 2 ** f.mant) % 2 ** f.exp;
  const m = bits % 2 ** f.mant;
  if (e === 2 ** f.exp - 1) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - bias - f.mant);
  return sign * (1 + m / 2 ** f.mant) * 2 ** (e - bias);
}

/** exponent of |v| as an integer: 2^e ≤ |v| < 2^(e+1), exact (read from the f64 bits). */
function exponentOf(v: number): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(v));
  const hi = dv.getUint32(0);
  const e = hi >>> 20;
  if (e === 0) return exponentOf(v * 2 ** 64) - 64;
  return e - 1023;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Round an f64 value to the nearest value of a float format (ties to even), with overflow to ±Inf. */
export function roundTo(v: number, dtype: string): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const f = FORMATS[dtype];
  const bias = 2 ** (f.exp - 1) - 1;
  const e = Math.max(exponentOf(v), 1 - bias);
  const quantum = 2 ** (e - f.mant);
  const r = roundHalfEven(Math.abs(v) / quantum) * quantum;
  const max = (2 - 2 ** -f.mant) * 2 ** bias;
  const out = r > max ? Infinity : r;
  return v < 0 ? -out : out;
}

/** Bits of a value that is exactly representable in the format (NaN → canonical quiet NaN). */
export function encodeValue(v: number, dtype: string): number {
  const f = FORMATS[dtype];
  const bias = 2 ** (f.exp - 1) - 1;
  const signBit = v < 0 || Object.is(v, -0) ? 2 ** (f.exp + f.mant) : 0;
  if (Number.isNaN(v)) return (2 ** f.exp - 1) * 2 ** f.mant + 2 ** (f.mant - 1);
  const a = Math.abs(v);
  if (a === Infinity) return signBit + (2 ** f.exp - 1) * 2 ** f.mant;
  if (a === 0) return signBit;
  const e = exponentOf(a);
  if (e < 1 - bias) return signBit + a / 2 ** (1 - bias - f.mant);
  return signBit + (e + bias) * 2 ** f.mant + (a / 2 ** e - 1) * 2 ** f.mant;
}

export function values(t: RefTensor): number[] {
  const f = FORMATS[t.dtype];
  const n = t.bytes.length / f.size;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = decodeValue(readBits(t.bytes, i, f.size), t.dtype);
  return out;
}

export function encodeAll(vals: number[], dtype: string): Uint8Array {
  const f = FORMATS[dtype];
  const out = new Uint8Array(vals.length * f.size);
  vals.forEach((v, i) => {
    let b = encodeValue(roundTo(v, dtype), dtype);
    for (let k = 0; k < f.size; k++) {
      out[i * f.size + k] = b % 256;
      b = Math.floor(b / 256);
    }
  });
  return out;
}

export interface RefTerm {
  base: RefTensor;
  chat: RefTensor;
  alpha: number;
}

/** cp + Σ α·(chat − base), each operation rounded to f32, on the first `mergedCount` elements; the rest is cp. */
export function referenceMerge(cp: RefTensor, terms: RefTerm[], outDtype: string, mergedCount: number): Uint8Array {
  const r32 = (v: number) => roundTo(v, 'F32');
  const acc = values(cp);
  const ts = terms.map((t) => ({ b: values(t.base), c: values(t.chat), a: r32(t.alpha) }));
  const merged = acc.map((v, i) => {
    if (i >= mergedCount) return v;
    let r = v;
    for (const t of ts) r = r32(r + r32(t.a * r32(t.c[i] - t.b[i])));
    return r;
  });
  return encodeAll(merged, outDtype);
}
