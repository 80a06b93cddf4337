/** safetensors dtypes and the f32 ⇄ f16/bf16 conversions the merge uses (round-to-nearest-even, NaN/Inf kept). */

export const DTYPE_SIZES = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;
/** Dtypes the merge does arithmetic on. Everything else is copied when base and chat agree. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}
export function isFloatDtype(d: Dtype): d is FloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}
export function dtypeSize(d: Dtype): number {
  return DTYPE_SIZES[d];
}

/** The `--dtype` / recipe spelling of a float dtype. */
export const DTYPE_NAMES: Record<string, FloatDtype> = {
  bf16: 'BF16', bfloat16: 'BF16', f16: 'F16', float16: 'F16', fp16: 'F16', f32: 'F32', float32: 'F32', fp32: 'F32',
};
export const TORCH_DTYPE: Record<FloatDtype, string> = { BF16: 'bfloat16', F16: 'float16', F32: 'float32' };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits → f32 value, exact (every f16 is an f32). */
const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    let v: number;
    if (e === 0) v = m * 2 ** -24;
    else if (e === 31) v = m ? NaN : Infinity;
    else v = (1 + m / 1024) * 2 ** (e - 15);
    t[h] = s ? -v : v;
    if (e === 31 && m) {
      // keep the payload and quiet bit like a hardware conversion does
      u32[0] = (s << 31) | 0x7f800000 | (m << 13);
      t[h] = f32[0];
    }
  }
  return t;
})();

export function f16ToF32(h: number): number {
  return F16_TABLE[h & 0xffff];
}

/** f32 bit pattern → f16 bits, round to nearest even; NaN stays NaN (quiet), overflow → ±Inf. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half of the smallest subnormal: rounds to ±0
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r; // r may carry into the exponent field: that is the correct smallest normal
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // carry may reach 0x7c00 = Inf, which is right
  return sign | r;
}

/** f32 bit pattern → bf16 bits, round to nearest even; NaN stays NaN (quiet). */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBits(v: number): number {
  f32[0] = v;
  return u32[0];
}
export function bitsToF32(b: number): number {
  u32[0] = b;
  return f32[0];
}

/** Decode `count` elements of `dtype` from `src` (byte view) into `out` as f32. */
export function decodeToF32(src: Uint8Array, dtype: FloatDtype, out: Float32Array, count: number): void {
  if (dtype === 'F32') {
    out.set(viewAs(src, Float32Array, count));
  } else if (dtype === 'BF16') {
    const s = viewAs(src, Uint16Array, count);
    const o = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) o[i] = s[i] << 16;
  } else {
    const s = viewAs(src, Uint16Array, count);
    for (let i = 0; i < count; i++) out[i] = F16_TABLE[s[i]];
  }
}

/** Encode `count` f32 values into `dtype` bytes at `dst`; with `canonicalNaN` every NaN becomes the dtype's canonical quiet NaN. */
export function encodeFromF32(src: Float32Array, dtype: FloatDtype, dst: Uint8Array, count: number, canonicalNaN = false): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, count);
  if (dtype === 'F32') {
    const o = viewAs(dst, Uint32Array, count);
    o.set(bits);
    if (canonicalNaN) for (let i = 0; i < count; i++) if ((o[i] & 0x7fffffff) > 0x7f800000) o[i] = 0x7fc00000;
    return;
  }
  const o = viewAs(dst, Uint16Array, count);
  if (dtype === 'BF16') {
    if (canonicalNaN) {
      for (let i = 0; i < count; i++) {
        const x = bits[i];
        o[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
    } else {
      for (let i = 0; i < count; i++) o[i] = f32BitsToBf16(bits[i]);
    }
  } else {
    for (let i = 0; i < count; i++) {
      const x = bits[i];
      o[i] = canonicalNaN && (x & 0x7fffffff) > 0x7f800000 ? 0x7e00 : f32BitsToF16(x);
    }
  }
}

type TypedCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** A typed view over bytes (little-endian); the merge allocates its buffers so that they are aligned. */
export function viewAs<T>(bytes: Uint8Array, ctor: TypedCtor<T>, count: number): T {
  if (bytes.byteOffset % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`internal: unaligned ${ctor.BYTES_PER_ELEMENT}-byte view at offset ${bytes.byteOffset}`);
  }
  return new ctor(bytes.buffer, bytes.byteOffset, count);
}
