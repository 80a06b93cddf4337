/**
 * The WebGPU merge kernels against the CPU kernel, bit for bit, in Node: the optional `webgpu`
 * package (Dawn), on Chromium's SwiftShader Vulkan driver when the machine has no GPU.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import { dtypeSize, type FloatDtype } from '../src/core/dtype.ts';
import { ChatvecError } from '../src/core/errors.ts';
import { MergeKernel, type TermBytes } from '../src/core/merge/kernel.ts';
import type { Recipe } from '../src/core/recipe.ts';
import { openGpuDevice, type GpuDevice } from '../src/gpu/device.ts';
import { probeFloatBehaviour } from '../src/gpu/float-probe.ts';
import { GpuLostError, GpuMergeBackend } from '../src/gpu/gpu-merge-backend.ts';
import { nodeGpu, SWIFTSHADER_DIR } from '../src/gpu/node-gpu.ts';
import { firstDifference, SeededRandom, trickyMergeCase, type MergeCase } from '../src/gpu/tricky-inputs.ts';
import { mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';

const gpu = await nodeGpu();
// Where Chromium's SwiftShader is installed (here and in CI) the GPU tests must run, not skip.
const mustRun = existsSync(join(SWIFTSHADER_DIR, 'vk_swiftshader_icd.json'));
if (!gpu) {
  const why = 'no WebGPU adapter (needs the optional `webgpu` package and a Vulkan driver, e.g. Debian chromium\'s SwiftShader)';
  if (mustRun) throw new Error(`test/gpu.spec.ts: ${why}, although ${SWIFTSHADER_DIR} has SwiftShader`);
  console.warn(`test/gpu.spec.ts skipped: ${why}`);
}

const DTYPES: FloatDtype[] = ['BF16', 'F16', 'F32'];

/** The CPU kernel's bytes, with the inputs in its memory as the engine has them (SIMD where it applies). */
function cpuMerge(kernel: MergeKernel, c: MergeCase, outDtype: FloatDtype): Uint8Array {
  const place = (b: Uint8Array) => {
    const v = kernel.alloc(b.length);
    v.set(b);
    return v;
  };
  const out = kernel.alloc(c.count * dtypeSize(outDtype));
  kernel.merge(c.count, place(c.cp), c.cpDtype, c.terms.map((t) => ({ ...t, base: place(t.base), chat: place(t.chat) })), outDtype, out);
  return out.slice();
}

describe.skipIf(!gpu)('WebGPU merge kernels', () => {
  let dev: GpuDevice;
  let backend: GpuMergeBackend;
  let cpu: MergeKernel;
  beforeAll(async () => {
    dev = (await openGpuDevice(gpu))!;
    console.log(`WebGPU adapter: ${dev.description}; shader-f16 ${dev.shaderF16}; ${JSON.stringify(await probeFloatBehaviour(dev.device))}`);
    // small dispatches: a chunk spans several, so the two-slot pipeline and the tails are exercised
    backend = await GpuMergeBackend.create({ gpu: dev, cpu: new MergeKernel(1 << 16, 0), dispatchElements: 1024 });
  });
  afterAll(() => {
    backend?.dispose(true);
  });
  beforeAll(() => {
    cpu = new MergeKernel(1 << 16, 40 << 20);
  });

  async function check(c: MergeCase, outDtype: FloatDtype): Promise<void> {
    const out = new Uint8Array(c.count * dtypeSize(outDtype));
    await backend.merge(c.count, c.cp, c.cpDtype, c.terms, outDtype, out);
    const label = `${c.cpDtype} + [${c.terms.map((t) => `${t.baseDtype}/${t.chatDtype} α=${t.alpha}`).join(', ')}] → ${outDtype}`;
    expect(firstDifference(out, cpuMerge(cpu, c, outDtype), dtypeSize(outDtype)), label).toBeNull();
  }

  it('every cp/base/chat dtype and every output dtype, one chat vector: bit for bit the CPU', async () => {
    const rng = new SeededRandom(1);
    const before = { gpu: backend.gpuElements, cpu: backend.cpuElements };
    const alphas = [1, 0.7, -1.3, 2.5e-3, 1e-30];
    let k = 0;
    for (const cpDtype of DTYPES) {
      for (const baseDtype of DTYPES) {
        for (const chatDtype of DTYPES) {
          for (const outDtype of DTYPES) {
            // 3001: not a multiple of the workgroup (256) or of a word (2 elements)
            await check(trickyMergeCase(rng, 3001, cpDtype, [{ baseDtype, chatDtype, alpha: alphas[k++ % alphas.length] }]), outDtype);
          }
        }
      }
    }
    const onGpu = backend.gpuElements - before.gpu, onCpu = backend.cpuElements - before.cpu;
    expect(onGpu + onCpu).toBe(81 * 3001);
    // Most elements come from the GPU; the flagged ones (subnormals, ±Inf, NaN, overflow) from the CPU.
    expect(onGpu / (onGpu + onCpu)).toBeGreaterThan(0.6);
    expect(onCpu).toBeGreaterThan(0);
  });

  it('two chat vectors of mixed dtypes', async () => {
    const rng = new SeededRandom(2);
    for (const outDtype of DTYPES) {
      for (const [cpDtype, t0, t1] of [['BF16', ['BF16', 'F16'], ['F32', 'BF16']], ['F16', ['F16', 'F16'], ['BF16', 'BF16']], ['F32', ['F32', 'F32'], ['F16', 'F32']]] as const) {
        await check(trickyMergeCase(rng, 2053, cpDtype, [{ baseDtype: t0[0], chatDtype: t0[1], alpha: 0.6 }, { baseDtype: t1[0], chatDtype: t1[1], alpha: -0.25 }]), outDtype);
      }
    }
  });

  it('tiny counts, α = 0, α outside the kernel range (subnormal, NaN), seven chat vectors', async () => {
    const rng = new SeededRandom(3);
    for (const count of [1, 2, 3, 255, 256, 257, 511, 513]) await check(trickyMergeCase(rng, count, 'BF16', [{ baseDtype: 'BF16', chatDtype: 'BF16', alpha: 0.5 }]), 'BF16');
    for (const alpha of [0, -0, 1e-45, 3e38, NaN, Infinity]) await check(trickyMergeCase(rng, 700, 'F32', [{ baseDtype: 'F32', chatDtype: 'BF16', alpha }]), 'F16');
    const many = Array.from({ length: 7 }, (_, i) => ({ baseDtype: DTYPES[i % 3], chatDtype: DTYPES[(i + 1) % 3], alpha: 0.1 * (i + 1) }));
    await check(trickyMergeCase(rng, 999, 'F16', many), 'BF16');
  });

  it('inputs that are all subnormal, or whose differences and products are, are exact (this device flushes them)', async () => {
    const n = 4099;
    const words = (f: (i: number) => number) => new Uint8Array(Uint32Array.from({ length: n }, (_, i) => f(i)).buffer);
    const halves = (f: (i: number) => number) => new Uint8Array(Uint16Array.from({ length: n }, (_, i) => f(i)).buffer);
    const f32Term = (base: Uint8Array, chat: Uint8Array, alpha: number): TermBytes => ({ base, chat, baseDtype: 'F32', chatDtype: 'F32', alpha: Math.fround(alpha) });
    const cases: MergeCase[] = [
      // subnormal inputs everywhere
      { count: n, cpDtype: 'F32', cp: words((i) => (i * 7919) & 0x807fffff), terms: [f32Term(words((i) => (i * 104729) & 0x007fffff), words((i) => (i * 1299709) & 0x807fffff), 1)] },
      // normal inputs 2^-120 apart by a few ulps: subnormal differences
      { count: n, cpDtype: 'F32', cp: words(() => 0), terms: [f32Term(words(() => 0x03800000), words((i) => 0x03800000 + (i % 13) - 6), 1)] },
      // normal differences, α·d below 2^-126
      { count: n, cpDtype: 'F32', cp: words((i) => (i % 3 ? 0x00000000 : 0x00400000)), terms: [f32Term(words(() => 0x3f800000), words((i) => 0x3f800000 + 1 + i), 1e-32)] },
      // bf16: subnormal bf16 values (exponent field 0)
      { count: n, cpDtype: 'BF16', cp: halves((i) => i & 0x807f), terms: [{ base: halves((i) => (i * 3) & 0x007f), chat: halves((i) => (i * 5) & 0x807f), baseDtype: 'BF16', chatDtype: 'BF16', alpha: 0.5 }] },
    ];
    const before = backend.cpuElements;
    for (const c of cases) for (const outDtype of DTYPES) await check(c, outDtype);
    expect(backend.cpuElements - before).toBeGreaterThan(0);
  });

  it('the f16 and bf16 encoders at and around every rounding position, over every exponent that matters', async () => {
    const patterns: number[] = [];
    for (let e = 90; e <= 146; e++) {
      // f16: ties at bit 12 (normal) or bits 13..23 (subnormal); bf16: at bit 15
      for (let bit = 10; bit <= 23; bit++) {
        const half = 1 << bit;
        for (const m of [half - 1, half, half + 1, 3 * half, 3 * half - 1, (half << 1) | half, 0x7fffff & ~(half - 1), 0x7fffff]) {
          for (const sign of [0, 0x80000000]) patterns.push((sign | (e << 23) | (m & 0x7fffff)) >>> 0);
        }
      }
    }
    const n = patterns.length;
    const bytes = (a: Uint32Array) => new Uint8Array(a.buffer);
    const one = bytes(new Uint32Array(n).fill(0x3f800000));
    // chat = base, so the result is cp itself: the encoders see every pattern
    const c: MergeCase = { count: n, cpDtype: 'F32', cp: bytes(Uint32Array.from(patterns)), terms: [{ base: one, chat: one, baseDtype: 'F32', chatDtype: 'F32', alpha: 1 }] };
    const before = backend.gpuElements;
    for (const outDtype of ['F16', 'BF16'] as const) await check(c, outDtype);
    expect(backend.gpuElements - before).toBe(2 * n);
  });

  it('a failed GPU call (here a destroyed buffer) is an error, never stale bytes', async () => {
    const b = await GpuMergeBackend.create({ gpu: dev, cpu: new MergeKernel(1 << 16, 0), dispatchElements: 1024 });
    const c = trickyMergeCase(new SeededRandom(5), 3000, 'BF16', [{ baseDtype: 'BF16', chatDtype: 'BF16', alpha: 0.5 }]);
    const out = new Uint8Array(c.count * 2);
    await b.merge(c.count, c.cp, c.cpDtype, c.terms, 'BF16', out);
    // white-box: break the second slot's output buffer, so the second dispatch fails validation
    (b as unknown as { slots: { out: GPUBuffer }[] }).slots[1].out.destroy();
    const err = await b.merge(c.count, c.cp, c.cpDtype, c.terms, 'BF16', out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuLostError);
    expect((err as Error).message).toMatch(/^a GPU call failed: .*destroyed/i);
    expect(b.lost).toBe(true);
    await expect(b.merge(c.count, c.cp, c.cpDtype, c.terms, 'BF16', out)).rejects.toThrow((err as Error).message);
    b.dispose(false);
  });

  it('rounding ties of every output dtype and cp = −α·(chat − base) (a fused multiply-add would differ)', async () => {
    const n = 4096;
    const rng = new SeededRandom(4);
    const cp = new Uint32Array(n), base = new Uint32Array(n), chat = new Uint32Array(n);
    const alpha = 0.3;
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (let i = 0; i < n; i++) {
      const e = 100 + rng.int(40); // 2^-27 … 2^12: normal in f32, f16 subnormal to f16 overflow
      const mant = rng.u32() & 0x7fffff;
      if (i % 3 === 0) {
        // result = cp exactly, on a tie of bf16 (low 16 bits 0x8000), f16 (low 13 bits 0x1000) or an f16 subnormal tie
        cp[i] = (e << 23) | (i % 2 ? (mant & 0x7f0000) | 0x8000 : (mant & 0x7fe000) | 0x1000);
        base[i] = chat[i] = 0x3f800000;
      } else {
        base[i] = (e << 23) | mant;
        chat[i] = base[i] + 1 + rng.int(1 << 20);
        f[0] = alpha;
        const d = Math.fround(new Float32Array(new Uint32Array([chat[i]]).buffer)[0] - new Float32Array(new Uint32Array([base[i]]).buffer)[0]);
        f[0] = -Math.fround(Math.fround(alpha) * d);
        cp[i] = u[0] + (i % 3 === 2 ? 1 : 0);
      }
    }
    const bytes = (a: Uint32Array) => new Uint8Array(a.buffer);
    const c: MergeCase = { count: n, cpDtype: 'F32', cp: bytes(cp), terms: [{ base: bytes(base), chat: bytes(chat), baseDtype: 'F32', chatDtype: 'F32', alpha: Math.fround(alpha) }] };
    const before = backend.gpuElements;
    for (const outDtype of DTYPES) await check(c, outDtype);
    expect(backend.gpuElements - before).toBe(3 * n); // all of it on the GPU: nothing here is flagged
  });
});

describe.skipIf(!gpu)('merges with backend gpu and auto', () => {
  let dir: string;
  const triplets = new Map<FloatDtype, Paths>();
  let dev: GpuDevice;
  beforeAll(async () => {
    dir = await tempDir('chatvec-gpu-');
    for (const dtype of DTYPES) triplets.set(dtype, await writeTriplet(join(dir, dtype), { arch: 'llama', dtype, layers: 2, cpExtraTokens: 8, specials: true, seed: 11 }));
    dev = (await openGpuDevice(gpu))!;
  });
  afterAll(() => dev?.device.destroy());

  const files = (d: string) => Object.fromEntries(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f))]));
  function expectSameFiles(a: string, b: string) {
    const x = files(a), y = files(b);
    expect(Object.keys(x)).toEqual(Object.keys(y));
    for (const f of Object.keys(x)) expect(x[f].equals(y[f]), `${f}: ${a} vs ${b}`).toBe(true);
  }

  for (const dtype of DTYPES) {
    it(`${dtype} triplet with NaN/±Inf, every output dtype, one and two vectors: gpu = cpu byte for byte`, async () => {
      const p = triplets.get(dtype)!;
      for (const out of ['auto', 'bf16', 'f16', 'f32'] as const) {
        for (const two of [false, true]) {
          const recipe: Recipe = two ? { ...recipeFor(p, { dtype: out }), vectors: [{ base: p.base, chat: p.chat, alpha: 0.6 }, { base: p.base, chat: p.chat, alpha: -0.25 }] } : recipeFor(p, { dtype: out }, 0.7);
          const name = `${dtype}-${out}-${two ? 2 : 1}`;
          const cpuRes = await mergeTo(recipe, join(dir, `${name}-cpu`), { chunkElements: 4096 });
          const gpuRes = await mergeTo(recipe, join(dir, `${name}-gpu`), { chunkElements: 4096, backend: 'gpu', gpuDevice: dev });
          expectSameFiles(join(dir, `${name}-cpu`), join(dir, `${name}-gpu`));
          expect(cpuRes.backend).toMatchObject({ name: 'cpu', detail: 'simd' });
          expect(gpuRes.backend).toMatchObject({ name: 'gpu', detail: dev.description });
          expect(gpuRes.backend.note).toBeUndefined();
          expect(gpuRes.backend.bytesPerSecond).toBeGreaterThan(0);
        }
      }
    });
  }

  it('a device lost mid-merge: the CPU recomputes the unfinished chunk and finishes; same bytes as a CPU merge', async () => {
    const p = triplets.get('BF16')!;
    const recipe = recipeFor(p, {}, 0.7);
    await mergeTo(recipe, join(dir, 'lost-cpu'), { chunkElements: 512 });
    const doomed = (await openGpuDevice(gpu))!;
    let submits = 0;
    const submit = doomed.device.queue.submit.bind(doomed.device.queue);
    // the self-test submits 5 times; the device goes away in the middle of the merge
    doomed.device.queue.submit = (buffers) => {
      submit(buffers);
      if (++submits === 20) doomed.device.destroy();
    };
    // chunks smaller than the self-test's 1027 elements: the engine's CPU kernel has scratch for 512 only
    const res = await mergeTo(recipe, join(dir, 'lost-gpu'), { chunkElements: 512, backend: 'gpu', gpuDevice: doomed });
    expect(submits).toBeGreaterThanOrEqual(20);
    console.log(`device loss: ${res.backend.note}`);
    expect(res.backend.name).toBe('cpu');
    expect(res.backend.note).toMatch(/^(the GPU device was lost|a GPU call failed): .+; the CPU recomputed the chunk it was working on and finished the merge$/);
    expectSameFiles(join(dir, 'lost-cpu'), join(dir, 'lost-gpu'));
  });

  it('auto times both on the first chunks, keeps the faster and reports it; same bytes', async () => {
    const p = triplets.get('F16')!;
    const recipe = recipeFor(p, { dtype: 'bf16' }, 0.7);
    await mergeTo(recipe, join(dir, 'auto-cpu'), { chunkElements: 4096 });
    const res = await mergeTo(recipe, join(dir, 'auto'), { chunkElements: 4096, backend: 'auto', gpuDevice: dev });
    expectSameFiles(join(dir, 'auto-cpu'), join(dir, 'auto'));
    const c = res.backend.calibration!;
    expect(c).toMatchObject({ chunks: 4, gpu: dev.description });
    expect(c.cpuBytesPerSecond).toBeGreaterThan(0);
    expect(c.gpuBytesPerSecond).toBeGreaterThan(0);
    expect(res.backend.name).toBe(c.gpuBytesPerSecond > c.cpuBytesPerSecond ? 'gpu' : 'cpu');
    expect(res.backend.detail).toBe(res.backend.name === 'gpu' ? dev.description : 'simd');
    console.log(`auto chose ${res.backend.name}: cpu ${(c.cpuBytesPerSecond / 1e6).toFixed(1)} MB/s, gpu ${(c.gpuBytesPerSecond / 1e6).toFixed(1)} MB/s`);
  });

  it('auto drops a GPU whose bytes differ from the CPU\'s on a calibration chunk, and says so', async () => {
    const p = triplets.get('F16')!;
    const recipe = recipeFor(p, { dtype: 'bf16' }, 0.7);
    const merge = GpuMergeBackend.prototype.merge;
    // a GPU that gets one bit wrong in chunks of calibration size (the self-test's are smaller)
    const spy = vi.spyOn(GpuMergeBackend.prototype, 'merge').mockImplementation(async function (this: GpuMergeBackend, ...args: Parameters<GpuMergeBackend['merge']>) {
      await merge.apply(this, args);
      if (args[0] >= 4096) args[5][5] ^= 1;
    });
    try {
      const res = await mergeTo(recipe, join(dir, 'liar'), { chunkElements: 4096, backend: 'auto', gpuDevice: dev });
      expect(res.backend.name).toBe('cpu');
      expect(res.backend.note).toMatch(/^the GPU's result differed from the CPU's on a F16 → BF16 chunk \(element 2: gpu 0x[0-9a-f]{4}, cpu 0x[0-9a-f]{4}\); the CPU did the merge$/);
    } finally {
      spy.mockRestore();
    }
    await mergeTo(recipe, join(dir, 'liar-cpu'), { chunkElements: 4096 });
    expectSameFiles(join(dir, 'liar-cpu'), join(dir, 'liar'));
  });

  it('chatvec merge --backend gpu prints the backend line; a bad --backend is a usage error', () => {
    const p = triplets.get('BF16')!;
    const main = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', main, 'merge', '--base', p.base, '--chat', p.chat, '--cp', p.cp, '--alpha', '0.7', ...args], { encoding: 'utf8' });
    const r = run(['--out', join(dir, 'cli-gpu'), '--backend', 'gpu']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\nbackend gpu \(.+\) \d+\.\d MB\/s\n/);
    const bad = run(['--out', join(dir, 'cli-bad'), '--backend', 'tpu']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('chatvec: --backend must be auto, cpu or gpu, not "tpu"');
  });
});

// Runs everywhere, GPU or not.
describe('backend gpu without an adapter', () => {
  let dir: string;
  let p: Paths;
  beforeAll(async () => {
    dir = await tempDir('chatvec-nogpu-');
    p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 1, seed: 12 });
  });

  it('--backend gpu without an adapter is an error; auto then uses the CPU and says why', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const err = await mergeTo(recipeFor(p), join(dir, 'none-gpu'), { backend: 'gpu', gpu: noAdapter }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatvecError);
    expect((err as ChatvecError).code).toBe('no-gpu');
    expect((err as Error).message).toBe('no usable WebGPU adapter for --backend gpu; expected a WebGPU adapter, found none (no navigator.gpu, no `webgpu` package, or no driver behind it). Use --backend cpu (or auto). In Node, WebGPU comes from the optional `webgpu` package and needs a Vulkan, Metal or D3D12 driver');
    const res = await mergeTo(recipeFor(p), join(dir, 'none-auto'), { backend: 'auto', gpu: null });
    expect(res.backend).toEqual({ name: 'cpu', detail: 'simd', bytesPerSecond: res.backend.bytesPerSecond, note: 'no WebGPU adapter (none (no navigator.gpu, no `webgpu` package, or no driver behind it)); the CPU did the merge' });
  });
});
