/**
 * Micro-benchmark of the merge arithmetic alone (no I/O):
 *   npx tsx bench/kernel-micro.ts
 * Times MergeKernel.merge on one 2 Mi-element chunk (bf16 cp/base/chat → bf16, one chat vector) with
 * the WebAssembly SIMD kernel and with the plain JS path, and checks that both give identical bytes.
 */
import { MergeKernel } from '../src/core/merge/kernel.ts';

const N = Number(process.env.N ?? 2 * 1024 * 1024);

function fillRandomBf16(u8: Uint8Array, seed: number): void {
  const u = new Uint16Array(u8.buffer, u8.byteOffset, u8.length / 2);
  let x = seed | 1;
  for (let i = 0; i < u.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    u[i] = ((x >>> 16) & 0x8000) | ((121 - (Math.clz32(((x >>> 7) & 0x7fff) | 1) - 17)) << 7) | (x & 0x7f);
  }
}

function run(simd: boolean) {
  const k = new MergeKernel(N, 4 * (2 * N + 128), { wasm: simd });
  const [cp, base, chat, out] = [k.alloc(2 * N), k.alloc(2 * N), k.alloc(2 * N), k.alloc(2 * N)];
  fillRandomBf16(cp, 1);
  fillRandomBf16(base, 2);
  fillRandomBf16(chat, 3);
  const once = () => k.merge(N, cp, 'BF16', [{ base, chat, baseDtype: 'BF16', chatDtype: 'BF16', alpha: 1 }], 'BF16', out);
  for (let i = 0; i < 3; i++) once();
  const reps = 20;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) once();
  const ns = ((performance.now() - t0) * 1e6) / (reps * N);
  return { ns, out: Buffer.from(out) };
}

const js = run(false);
const simd = run(true);
console.log(`JS path:   ${js.ns.toFixed(2)} ns/element`);
console.log(`SIMD path: ${simd.ns.toFixed(2)} ns/element (${(js.ns / simd.ns).toFixed(1)}× faster)`);
console.log(js.out.equals(simd.out) ? 'identical bytes' : 'BYTES DIFFER');
