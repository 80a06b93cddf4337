/**
 * WGSL for the chat-vector statistics: one workgroup reduces STATS_GROUP_ELEMENTS consecutive
 * elements of base, chat and cp (f32, read as u32 words) to one partial of STATS_PARTIAL_WORDS words:
 *
 *   0..3  Σ τ², Σ d², Σ cp², Σ τ·d   (f32 bits; τ = chat − base, d = cp − base)
 *   4     nonFinite                  (u32: base, chat or cp is NaN or ±Inf, found from the exponent bits)
 *   5     sameSign                   (u32: τ and d both nonzero with one sign, found by comparisons)
 *   6     bothNonzero                (u32)
 *   7     outOfRange                 (u32: elements the f32 sums cannot take exactly enough; see below)
 *
 * WGSL has no f64, so the sums are f32. An element whose base, chat, cp, τ or d is nonzero with
 * |x| < 2^-60 (this covers every subnormal: SwiftShader and many GPUs flush them to zero, which would
 * change both the sums and the sign counts) or |x| ≥ 2^50 (squares and sums could overflow) makes the
 * whole partial unusable: the host recomputes that workgroup's elements on the CPU. Inside the range,
 * no square or product is subnormal, no sum of 4096 terms overflows, τ and d are correctly rounded f32
 * (never flushed: a nonzero difference of such values is at least 2^-83), and comparisons of normal
 * values are exact, so the three counts are exact.
 */

/** Invocations per workgroup. */
export const STATS_WORKGROUP = 256;
/** Elements each invocation sums in sequence before the tree reduction. */
export const STATS_PER_INVOCATION = 16;
/** Elements per workgroup, i.e. per partial. */
export const STATS_GROUP_ELEMENTS = STATS_WORKGROUP * STATS_PER_INVOCATION;
/** u32 words per partial. */
export const STATS_PARTIAL_WORDS = 8;

/** Biased f32 exponents the kernel accepts: 2^-60 ≤ |x| < 2^50 (and zero). */
export const STATS_MIN_EXPONENT = 127 - 60;
export const STATS_MAX_EXPONENT = 127 + 49;

export const STATS_SHADER = /* wgsl */ `
struct Params { n: u32, p1: u32, p2: u32, p3: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> base: array<u32>;
@group(0) @binding(2) var<storage, read> chat: array<u32>;
@group(0) @binding(3) var<storage, read> cp: array<u32>;
@group(0) @binding(4) var<storage, read_write> partials: array<u32>;

const WG: u32 = ${STATS_WORKGROUP}u;
const PER: u32 = ${STATS_PER_INVOCATION}u;

var<workgroup> wsum: array<vec4<f32>, ${STATS_WORKGROUP}>;
var<workgroup> wcnt: array<vec4<u32>, ${STATS_WORKGROUP}>;

struct Part { s: vec4<f32>, c: vec4<u32> }

fn finiteBits(b: u32) -> bool { return (b & 0x7f800000u) != 0x7f800000u; }
fn inRange(b: u32) -> bool {
  let e = (b >> 23u) & 0xffu;
  return (b & 0x7fffffffu) == 0u || (e >= ${STATS_MIN_EXPONENT}u && e <= ${STATS_MAX_EXPONENT}u);
}
fn sgn(a: f32, b: f32) -> i32 { return select(0i, 1i, a > b) - select(0i, 1i, a < b); }

fn element(i: u32) -> Part {
  var r = Part(vec4<f32>(0.0), vec4<u32>(0u));
  if (i >= params.n) { return r; }
  let bb = base[i];
  let cb = chat[i];
  let pb = cp[i];
  if (!(finiteBits(bb) && finiteBits(cb) && finiteBits(pb))) { r.c.x = 1u; return r; }
  if (!(inRange(bb) && inRange(cb) && inRange(pb))) { r.c.w = 1u; return r; }
  let b = bitcast<f32>(bb);
  let c = bitcast<f32>(cb);
  let p = bitcast<f32>(pb);
  let tau = c - b;
  let d = p - b;
  if (!(inRange(bitcast<u32>(tau)) && inRange(bitcast<u32>(d)))) { r.c.w = 1u; return r; }
  r.s = vec4<f32>(tau * tau, d * d, p * p, tau * d);
  // signs by comparison of the inputs (exact for normal values), not from the rounded product
  let st = sgn(c, b);
  let sd = sgn(p, b);
  let both = st != 0i && sd != 0i;
  r.c.y = select(0u, 1u, both && st == sd);
  r.c.z = select(0u, 1u, both);
  return r;
}

@compute @workgroup_size(${STATS_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  let start = group * WG * PER;
  var s = vec4<f32>(0.0);
  var c = vec4<u32>(0u);
  for (var k = 0u; k < PER; k++) {
    let e = element(start + k * WG + lid);
    s += e.s;
    c += e.c;
  }
  wsum[lid] = s;
  wcnt[lid] = c;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) {
      wsum[lid] = wsum[lid] + wsum[lid + w];
      wcnt[lid] = wcnt[lid] + wcnt[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u && start < params.n) {
    let o = group * ${STATS_PARTIAL_WORDS}u;
    let t = wsum[0];
    let n = wcnt[0];
    partials[o] = bitcast<u32>(t.x);
    partials[o + 1u] = bitcast<u32>(t.y);
    partials[o + 2u] = bitcast<u32>(t.z);
    partials[o + 3u] = bitcast<u32>(t.w);
    partials[o + 4u] = n.x;
    partials[o + 5u] = n.y;
    partials[o + 6u] = n.z;
    partials[o + 7u] = n.w;
  }
}
`;
