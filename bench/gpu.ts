/**
 * WebGPU vs CPU merge throughput, side by side in one run (issue #4): `npm run bench:gpu`.
 *
 * 1. Kernels alone (no file I/O): MergeKernel.merge (WebAssembly SIMD, and the plain JS path) and
 *    GpuMergeBackend.merge (upload + dispatch + readback, two dispatches in flight) on the same
 *    random weights, N elements per call (default 4 Mi), one warm-up then REPS timed calls each;
 *    every backend's bytes are compared with the SIMD kernel's.
 * 2. Whole merges: a generated bf16 Llama-layout triplet merged by runMerge with backend cpu, gpu and
 *    auto (same process, output compared byte for byte).
 * Prints the adapter (vendor, architecture, description) and its float behaviour; writes
 * bench/gpu-results.json. Env: N, REPS, HIDDEN (default 512), LAYERS (default 8).
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTriplet } from '../scripts/fixtures.ts';
import { dtypeSize, f32BitsToBf16, f32BitsToF16, f32ToBits, type FloatDtype } from '../src/core/dtype.ts';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import { MergeKernel, type TermBytes } from '../src/core/merge/kernel.ts';
import { defaultRecipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { NodeOutputFolder } from '../src/core/sources/node-output.ts';
import { openGpuDevice } from '../src/gpu/device.ts';
import { probeFloatBehaviour } from '../src/gpu/float-probe.ts';
import { GpuMergeBackend } from '../src/gpu/gpu-merge-backend.ts';
import { nodeGpu } from '../src/gpu/node-gpu.ts';
import { SeededRandom } from '../src/gpu/tricky-inputs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.N ?? 4 * 1024 * 1024);
const REPS = Number(process.env.REPS ?? 3);
const log = (s: string) => process.stdout.write(`${s}\n`);
const mbs = (bytes: number, ms: number) => (bytes / ms / 1e3).toFixed(1);

const gpu = await nodeGpu();
const dev = await openGpuDevice(gpu);
if (!dev) {
  log('no WebGPU adapter: install the optional `webgpu` package (and a Vulkan driver, e.g. Debian chromium for SwiftShader)');
  process.exit(1);
}
const adapter = await gpu!.requestAdapter();
const info = adapter!.info;
const floats = await probeFloatBehaviour(dev.device);
log(`adapter: vendor "${info.vendor}", architecture "${info.architecture}", device "${info.device}", description "${info.description}"${dev.software ? ' (software)' : ''}; shader-f16 ${dev.shaderF16}`);
log(`float behaviour without the kernel's guards: ${JSON.stringify(floats)}`);
log(`CPU: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, Node ${process.version}\n`);

/** Ordinary weights (no value the GPU kernel hands to the CPU), stored in `dtype`. */
function weights(rng: SeededRandom, n: number, dtype: FloatDtype, into: Uint8Array): void {
  const size = dtypeSize(dtype);
  for (let i = 0; i < n; i++) {
    const bits = f32ToBits((rng.next() - 0.5) * 0.05);
    if (size === 4) new DataView(into.buffer, into.byteOffset).setUint32(i * 4, bits, true);
    else new DataView(into.buffer, into.byteOffset).setUint16(i * 2, dtype === 'BF16' ? f32BitsToBf16(bits) : f32BitsToF16(bits), true);
  }
}

interface KernelRow {
  kernel: string;
  elements: number;
  cpuSimdMBs: number;
  cpuJsMBs: number;
  gpuMBs: number;
  gpuOnCpuElements: number;
  identical: boolean;
}

const cases: { label: string; inDtype: FloatDtype; terms: number; outDtype: FloatDtype }[] = [
  { label: 'bf16 → bf16, 1 vector', inDtype: 'BF16', terms: 1, outDtype: 'BF16' },
  { label: 'bf16 → bf16, 2 vectors', inDtype: 'BF16', terms: 2, outDtype: 'BF16' },
  { label: 'f16 → f16, 1 vector', inDtype: 'F16', terms: 1, outDtype: 'F16' },
  { label: 'f32 → f32, 1 vector', inDtype: 'F32', terms: 1, outDtype: 'F32' },
  { label: 'bf16 → f32, 1 vector', inDtype: 'BF16', terms: 1, outDtype: 'F32' },
];

const kernelRows: KernelRow[] = [];
const rng = new SeededRandom(42);
for (const c of cases) {
  const inBytes = N * dtypeSize(c.inDtype), outBytes = N * dtypeSize(c.outDtype);
  const simd = new MergeKernel(N, (1 + 2 * c.terms) * (inBytes + 128) + 3 * (outBytes + 128));
  const js = new MergeKernel(N, 0, { wasm: false });
  const cp = simd.alloc(inBytes);
  weights(rng, N, c.inDtype, cp);
  const terms: TermBytes[] = Array.from({ length: c.terms }, (_, k) => {
    const base = simd.alloc(inBytes), chat = simd.alloc(inBytes);
    weights(rng, N, c.inDtype, base);
    weights(rng, N, c.inDtype, chat);
    return { base, chat, baseDtype: c.inDtype, chatDtype: c.inDtype, alpha: Math.fround(k ? -0.3 : 0.8) };
  });
  const outs = [simd.alloc(outBytes), new Uint8Array(outBytes), new Uint8Array(outBytes)];
  const backend = await GpuMergeBackend.create({ gpu: dev, cpu: simd });
  const time = async (f: () => void | Promise<void>) => {
    await f();
    const t0 = performance.now();
    for (let r = 0; r < REPS; r++) await f();
    return (performance.now() - t0) / REPS;
  };
  const simdMs = await time(() => simd.merge(N, cp, c.inDtype, terms, c.outDtype, outs[0]));
  // the JS path: inputs outside its memory
  const plain = { cp: cp.slice(), terms: terms.map((t) => ({ ...t, base: t.base.slice(), chat: t.chat.slice() })) };
  const jsMs = await time(() => js.merge(N, plain.cp, c.inDtype, plain.terms, c.outDtype, outs[1]));
  const before = backend.cpuElements;
  const gpuMs = await time(() => backend.merge(N, cp, c.inDtype, terms, c.outDtype, outs[2]));
  const identical = Buffer.from(outs[0]).equals(Buffer.from(outs[1])) && Buffer.from(outs[0]).equals(Buffer.from(outs[2]));
  kernelRows.push({ kernel: c.label, elements: N, cpuSimdMBs: +mbs(outBytes, simdMs), cpuJsMBs: +mbs(outBytes, jsMs), gpuMBs: +mbs(outBytes, gpuMs), gpuOnCpuElements: backend.cpuElements - before, identical });
  backend.dispose(false);
  log(`${c.label.padEnd(24)} cpu simd ${mbs(outBytes, simdMs).padStart(7)} MB/s   cpu js ${mbs(outBytes, jsMs).padStart(7)} MB/s   gpu ${mbs(outBytes, gpuMs).padStart(7)} MB/s   ${identical ? 'identical bytes' : 'BYTES DIFFER'}`);
}

// Whole merges through the engine: cpu, gpu, auto on one generated triplet.
const hidden = Number(process.env.HIDDEN ?? 512), layers = Number(process.env.LAYERS ?? 8);
const tmp = await mkdtemp(join(os.tmpdir(), 'chatvec-gpu-bench-'));
const mergeRows: { backend: string; seconds: number; outputMB: number; report: unknown }[] = [];
try {
  const p = await writeTriplet(join(tmp, 'in'), { arch: 'llama', dtype: 'BF16', hiddenSize: hidden, intermediate: hidden * 3, layers, heads: 8, kvHeads: 4, vocab: 8000, seed: 1 });
  log(`\nwhole merge: bf16 triplet, hidden ${hidden}, ${layers} layers, vocab 8000`);
  let reference: Buffer | null = null;
  for (const backend of ['cpu', 'gpu', 'auto'] as const) {
    const outDir = join(tmp, `out-${backend}`);
    const t0 = performance.now();
    const res = await mergeRecipe({ recipe: defaultRecipe(p.cp, p.base, p.chat, 0.8), resolve: (ref) => new NodeFileTree(ref), out: new NodeOutputFolder(outDir), backend, gpuDevice: dev });
    const seconds = (performance.now() - t0) / 1000;
    const bytes = await readFile(join(outDir, (await readdir(outDir)).find((f) => f.endsWith('.safetensors'))!));
    reference ??= bytes;
    const b = res.backend;
    mergeRows.push({ backend, seconds: +seconds.toFixed(2), outputMB: +(res.bytesTotal / 1e6).toFixed(1), report: b });
    log(`  --backend ${backend.padEnd(4)} ${seconds.toFixed(2)} s for ${(res.bytesTotal / 1e6).toFixed(1)} MB: ran ${b.name} (${b.detail}) ${(b.bytesPerSecond / 1e6).toFixed(1)} MB/s${b.calibration ? `; auto measured cpu ${(b.calibration.cpuBytesPerSecond / 1e6).toFixed(1)}, gpu ${(b.calibration.gpuBytesPerSecond / 1e6).toFixed(1)} MB/s` : ''}${bytes.equals(reference) ? '' : '  OUTPUT DIFFERS'}`);
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
  dev.device.destroy();
}

await writeFile(join(ROOT, 'bench', 'gpu-results.json'), JSON.stringify({ date: new Date().toISOString(), adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software: dev.software, shaderF16: dev.shaderF16 }, floats, cpu: `${os.cpus()[0]?.model} × ${os.cpus().length}`, node: process.version, kernels: kernelRows, merges: mergeRows }, null, 2) + '\n');
log('\nwrote bench/gpu-results.json');
