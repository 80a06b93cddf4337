import type { FloatDtype } from '../core/dtype.ts';

/** One WGSL merge kernel: the dtypes of cp, of each term's base and chat, and of the output. */
export interface MergeShaderSpec {
  cp: FloatDtype;
  terms: { base: FloatDtype; chat: FloatDtype }[];
  out: FloatDtype;
  /** Decode f16 inputs with the `shader-f16` extension instead of integer bit manipulation. */
  nativeF16: boolean;
}

export const WORKGROUP_SIZE = 256;

/** Output elements one invocation writes: one u32 word of output. */
export function elementsPerWord(out: FloatDtype): number {
  return out === 'F32' ? 1 : 2;
}

/** u32 words of flag bits (one bit per element) each workgroup writes after the output words. */
export function flagWordsPerGroup(out: FloatDtype): number {
  return (WORKGROUP_SIZE * elementsPerWord(out)) / 32;
}

/** A stable key of a spec, for pipeline caches. */
export function shaderKey(s: MergeShaderSpec): string {
  return `${s.cp}|${s.terms.map((t) => `${t.base}-${t.chat}`).join(',')}|${s.out}|${s.nativeF16 ? 'h' : 'b'}`;
}

/**
 * WGSL for out = cp + Σ αᵢ·(chatᵢ − baseᵢ), f32 sub, mul, add in that order, rounded to nearest even
 * into the output dtype in integer ops (NaN canonical), bit for bit what the CPU kernel computes.
 *
 * Bindings (group 0): 0 params (uniform); 1 inputs: cp, then base and chat of each term, region r
 * starting at word r·params.stride (16-bit dtypes packed two per word, element 2k in the low half);
 * 2 out: `params.words` words; 3 flags (zeroed before the dispatch): `flagWordsPerGroup` words per
 * workgroup, bit k of word w of group g set = element g·256·elementsPerWord + 32w + k must be
 * recomputed on the CPU. Three storage bindings, whatever the number of terms.
 *
 * Guards that make the result independent of the device's float quirks:
 * - no contraction: the product's bits are xor-ed with `params.zero` (0 at run time, unknown to the
 *   compiler) before the add, so `acc + α·d` cannot become a fused multiply-add;
 * - an element any of whose inputs or intermediate results falls outside [2⁻¹²⁵, 2¹²⁷) (subnormals,
 *   flushed results, overflow, ±Inf, NaN), other than an exact zero,
 *   raises its flag bit and is recomputed on the CPU; inside that range, flush-to-zero and Inf/NaN
 *   handling cannot matter.
 */
export function mergeShaderSource(s: MergeShaderSpec): string {
  const usesF16 = s.cp === 'F16' || s.terms.some((t) => t.base === 'F16' || t.chat === 'F16');
  const alphaVecs = Math.max(1, Math.ceil(s.terms.length / 4));
  const regions: [string, FloatDtype][] = [['cp', s.cp], ...s.terms.flatMap((t, i): [string, FloatDtype][] => [[`base${i}`, t.base], [`chat${i}`, t.chat]])];
  const lines: string[] = [];
  if (s.nativeF16 && usesF16) lines.push('enable f16;');
  lines.push(`
struct Params {
  count: u32,
  words: u32,
  zero: u32,
  stride: u32,
  alpha: array<vec4<u32>, ${alphaVecs}>,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inputs: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;`);
  lines.push(COMMON);
  if (usesF16 && !s.nativeF16) lines.push(F16_DECODE);
  regions.forEach(([name, dtype], r) => lines.push(loader(name, r, dtype, s.nativeF16)));
  lines.push(ENCODERS[s.out]);

  const body = s.terms.map((_, i) => `
  {
    let bb = load_base${i}(i);
    let cb = load_chat${i}(i);
    h = h | unsafe_input(bb) | unsafe_input(cb);
    let d = bitcast<f32>(cb) - bitcast<f32>(bb);
    let db = bitcast<u32>(d);
    h = h | unsafe_result(db, (cb == bb) | (((cb | bb) & 0x7fffffffu) == 0u));
    let ab = params.alpha[${i >> 2}][${i & 3}];
    let pb = bitcast<u32>(bitcast<f32>(ab) * d) ^ params.zero;
    h = h | unsafe_result(pb, ((ab & 0x7fffffffu) == 0u) | ((db & 0x7fffffffu) == 0u));
    let sum = bitcast<f32>(accb) + bitcast<f32>(pb);
    let sb = bitcast<u32>(sum);
    h = h | unsafe_result(sb, ((accb ^ pb) == 0x80000000u) | (((accb | pb) & 0x7fffffffu) == 0u));
    accb = sb;
  }`).join('');
  lines.push(`
/** f32 bits of the merged element i, and 1 when it must be recomputed on the CPU. */
fn merge_at(i: u32) -> vec2<u32> {
  var accb = load_cp(i);
  var h = unsafe_input(accb);${body}
  return vec2<u32>(accb, h);
}

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let group = wg.y * nwg.x + wg.x;
  let word = group * ${WORKGROUP_SIZE}u + li;
  var h = 0u;
  if (word < params.words) {${
    s.out === 'F32'
      ? `
    let r = merge_at(word);
    out[word] = encode(r.x);
    h = r.y << (li & 31u);`
      : `
    // both halves unconditionally (no divergent loop); past the end, the flag is dropped and the half is never read back
    let i = word * 2u;
    let lo = merge_at(i);
    let hi = merge_at(i + 1u);
    out[word] = encode(lo.x) | (encode(hi.x) << 16u);
    h = (lo.y | (select(0u, hi.y, i + 1u < params.count) << 1u)) << ((li * 2u) & 31u);`
  }
  }
  // rare (special values only), so a storage atomic costs less than a workgroup reduction and barrier
  if (h != 0u) { atomicOr(&flags[group * ${flagWordsPerGroup(s.out)}u + ((li * ${elementsPerWord(s.out)}u) >> 5u)], h); }
}
`);
  return lines.join('\n');
}

const COMMON = `
// Branch-free (\`&\`, \`|\` on bools do not short-circuit): divergent branches are slow on SIMD hardware.

/** The exponent field is 0, 1, 254 or 255: |x| < 2^-125 (zero included) or |x| >= 2^127 (Inf, NaN included). */
fn out_of_range(b: u32) -> bool {
  return (((b >> 23u) & 0xffu) - 2u) > 251u;
}

/** A nonzero input outside [2^-125, 2^127): subnormal, huge, Inf or NaN. */
fn unsafe_input(b: u32) -> u32 {
  return select(0u, 1u, ((b & 0x7fffffffu) != 0u) & out_of_range(b));
}

/** A result outside [2^-125, 2^127), unless IEEE arithmetic makes it an exact zero (then it must be one). */
fn unsafe_result(b: u32, exact_zero: bool) -> u32 {
  return select(0u, 1u, select(out_of_range(b), (b & 0x7fffffffu) != 0u, exact_zero));
}`;

const F16_DECODE = `
/** f16 bits -> f32 bits, exact; NaN payloads kept like the CPU's table. */
fn f16_bits_to_f32(h: u32) -> u32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  let p = 31u - countLeadingZeros(m | 1u);
  let subnormal = select(0u, ((p + 103u) << 23u) | ((m << (23u - p)) & 0x7fffffu), m != 0u);
  let normal = select(((e + 112u) << 23u) | (m << 13u), 0x7f800000u | (m << 13u), e == 0x1fu);
  return s | select(normal, subnormal, e == 0u);
}`;

/** `load_<name>(i)`: f32 bits of element i of input region `region`. */
function loader(name: string, region: number, dtype: FloatDtype, nativeF16: boolean): string {
  const head = `fn load_${name}(i: u32) -> u32 {`;
  const at = (index: string) => `inputs[${region ? `${region}u * params.stride + ` : ''}${index}]`;
  if (dtype === 'F32') return `${head} return ${at('i')}; }`;
  if (dtype === 'BF16') return `${head}\n  let w = ${at('(i >> 1u)')};\n  return select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u);\n}`;
  if (nativeF16) return `${head}\n  let v = bitcast<vec2<f16>>(${at('(i >> 1u)')});\n  return bitcast<u32>(f32(v[i & 1u]));\n}`;
  return `${head}\n  let w = ${at('(i >> 1u)')};\n  return f16_bits_to_f32(select(w & 0xffffu, w >> 16u, (i & 1u) == 1u));\n}`;
}

/** f32 bits -> output bits, the CPU's formulas (src/core/dtype.ts, kernel.wat), canonical NaN. */
const ENCODERS: Record<FloatDtype, string> = {
  F32: `
fn encode(x: u32) -> u32 {
  return select(x, 0x7fc00000u, (x & 0x7fffffffu) > 0x7f800000u);
}`,
  BF16: `
fn encode(x: u32) -> u32 {
  return select((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u, 0x7fc0u, (x & 0x7fffffffu) > 0x7f800000u);
}`,
  F16: `
fn encode(x: u32) -> u32 {
  if ((x & 0x7fffffffu) > 0x7f800000u) { return 0x7e00u; }
  let sign = (x >> 16u) & 0x8000u;
  let exp = i32((x >> 23u) & 0xffu);
  var mant = x & 0x7fffffu;
  if (exp == 0xff) { return sign | 0x7c00u; }
  let e = exp - 112;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    mant = mant | 0x800000u;
    let shift = u32(14 - e);
    let half = 1u << (shift - 1u);
    let rest = mant & ((1u << shift) - 1u);
    var r = mant >> shift;
    if (rest > half || (rest == half && (r & 1u) == 1u)) { r = r + 1u; }
    return sign | r;
  }
  var r = (u32(e) << 10u) | (mant >> 13u);
  let rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (r & 1u) == 1u)) { r = r + 1u; }
  return sign | r;
}`,
};
