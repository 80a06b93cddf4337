/**
 * The WebGPU chat-vector statistics against the CPU reference: norms within STATS_GPU_TOLERANCE
 * (relative), cosine within it (absolute), counts exact. In Node through the optional `webgpu`
 * package, on Chromium's SwiftShader Vulkan driver when the machine has no GPU.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import type { FloatDtype } from '../src/core/dtype.ts';
import { openInputs } from '../src/core/inputs.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { computeChatVectorStats, type ChatVectorStatsParams } from '../src/core/stats/compute-chat-vector-stats.ts';
import { CpuStatsAccumulator, type StatsAccumulator, type StatsSums } from '../src/core/stats/stats-accumulator.ts';
import { statsMetrics, type ChatVectorStats, type StatsMetrics } from '../src/core/stats/stats-report.ts';
import { openGpuDevice, type GpuDevice } from '../src/gpu/device.ts';
import { nodeGpu, SWIFTSHADER_DIR } from '../src/gpu/node-gpu.ts';
import { GpuStatsAccumulator, openGpuStatsAccumulator, STATS_GPU_TOLERANCE } from '../src/gpu/stats-gpu-accumulator.ts';
import { STATS_GROUP_ELEMENTS } from '../src/gpu/stats-shader.ts';
import { recipeFor, tempDir, type Paths } from './helpers.ts';

const gpu = await nodeGpu();
const mustRun = existsSync(join(SWIFTSHADER_DIR, 'vk_swiftshader_icd.json'));
if (!gpu) {
  const why = 'no WebGPU adapter (needs the optional `webgpu` package and a Vulkan driver, e.g. Debian chromium\'s SwiftShader)';
  if (mustRun) throw new Error(`test/gpu-stats.spec.ts: ${why}, although ${SWIFTSHADER_DIR} has SwiftShader`);
  console.warn(`test/gpu-stats.spec.ts skipped: ${why}`);
}

const TOL = STATS_GPU_TOLERANCE;

function expectMetricsClose(g: StatsMetrics, c: StatsMetrics, label: string): void {
  // counts, and so sign agreement, are exact
  expect({ elements: g.elements, nonFinite: g.nonFinite, sameSign: g.sameSign, bothNonzero: g.bothNonzero, signAgreement: g.signAgreement }, label).toEqual({
    elements: c.elements, nonFinite: c.nonFinite, sameSign: c.sameSign, bothNonzero: c.bothNonzero, signAgreement: c.signAgreement,
  });
  for (const k of ['tauNorm', 'cpDeltaNorm', 'cpNorm', 'relMagnitude'] as const) {
    const a = g[k], b = c[k];
    if (a === null || b === null) {
      expect(a, `${label} ${k}`).toBe(b);
      continue;
    }
    expect(Math.abs(a - b), `${label} ${k}: gpu ${a}, cpu ${b}`).toBeLessThanOrEqual(TOL * Math.abs(b));
  }
  if (g.cosine === null || c.cosine === null) expect(g.cosine, `${label} cosine`).toBe(c.cosine);
  else expect(Math.abs(g.cosine - c.cosine), `${label} cosine: gpu ${g.cosine}, cpu ${c.cosine}`).toBeLessThanOrEqual(TOL);
}

function expectStatsClose(g: ChatVectorStats, c: ChatVectorStats): void {
  expect(g.tensors.map((t) => t.name)).toEqual(c.tensors.map((t) => t.name));
  expect(g.notCompared).toEqual(c.notCompared);
  g.tensors.forEach((t, i) => expectMetricsClose(t, c.tensors[i], t.name));
  g.layers.forEach((l, i) => expectMetricsClose(l, c.layers[i], `layer ${l.layer}`));
  g.modules.forEach((m, i) => expectMetricsClose(m, c.modules[i], `module ${m.module}`));
  expectMetricsClose(g.total, c.total, 'total');
  g.matrix.cosine.forEach((row, i) =>
    row.forEach((v, j) => {
      const r = c.matrix.cosine[i][j];
      if (v === null || r === null) expect(v).toBe(r);
      else expect(Math.abs(v - r)).toBeLessThanOrEqual(TOL);
    }),
  );
}

async function statsOf(p: Paths, over: Partial<ChatVectorStatsParams> = {}): Promise<ChatVectorStats> {
  const recipe = recipeFor(p);
  const inputs = await openInputs(recipe, (ref) => new NodeFileTree(ref));
  try {
    return await computeChatVectorStats({ inputs, recipe, ...over });
  } finally {
    await inputs.close();
  }
}

/** Deterministic values of every kind: ordinary, zeros, subnormals, tiny, huge, cancelling, NaN, ±Inf. */
function trickyArrays(n: number, seed: number): [Float32Array, Float32Array, Float32Array] {
  let x = seed >>> 0;
  const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const base = new Float32Array(n), chat = new Float32Array(n), cp = new Float32Array(n);
  const pick = (): number => {
    const r = rnd();
    if (r < 0.7) return (rnd() - 0.5) * 0.1;
    if (r < 0.75) return 0;
    if (r < 0.78) return -0;
    if (r < 0.81) return (rnd() - 0.5) * 2 ** -130; // subnormal
    if (r < 0.84) return (rnd() - 0.5) * 2 ** -70; // tiny, normal
    if (r < 0.87) return (rnd() - 0.5) * 2 ** 70; // huge
    if (r < 0.9) return [NaN, Infinity, -Infinity][Math.floor(rnd() * 3)];
    return (rnd() - 0.5) * 4;
  };
  for (let i = 0; i < n; i++) {
    // mostly clean regions (so most workgroups stay on the GPU), some with every kind of value
    const dirty = Math.floor(i / STATS_GROUP_ELEMENTS) % 3 === 1;
    base[i] = dirty ? pick() : (rnd() - 0.5) * 0.1;
    const r = rnd();
    chat[i] = r < 0.1 ? base[i] : base[i] + (dirty ? pick() : (rnd() - 0.5) * 0.01);
    cp[i] = r > 0.95 ? base[i] : r > 0.9 ? Math.fround(base[i] * (1 + 2 ** -23)) : base[i] + (dirty ? pick() : (rnd() - 0.5) * 0.01);
  }
  return [base, chat, cp];
}

async function sumsOf(acc: StatsAccumulator, arrays: Float32Array[], chunk: number): Promise<StatsSums> {
  const n = arrays[0].length;
  for (let i = 0; i < n; i += chunk) {
    const k = Math.min(chunk, n - i);
    await acc.add(arrays[0].subarray(i, i + k), arrays[1].subarray(i, i + k), arrays[2].subarray(i, i + k), k);
  }
  return acc.take();
}

describe('GPU stats accumulator without a device', () => {
  it('no adapter: every chunk on the CPU, within tolerance of the reference', async () => {
    const acc = await openGpuStatsAccumulator({ gpu: null });
    expect(acc.lost).toBe('no WebGPU adapter');
    const arrays = trickyArrays(20000, 3);
    const g = await sumsOf(acc, arrays, 3000);
    const c = await sumsOf(new CpuStatsAccumulator(), arrays, 3000);
    expectMetricsClose(statsMetrics(g), statsMetrics(c), 'no adapter');
    expect(acc.cpuElements).toBe(20000);
    expect(acc.gpuElements).toBe(0);
  });
});

describe.skipIf(!gpu)('GPU stats accumulator (WebGPU)', () => {
  let dev: GpuDevice;
  let acc: GpuStatsAccumulator;
  let dir: string;
  beforeAll(async () => {
    dev = (await openGpuDevice(gpu))!;
    // small dispatches: chunks span several, and the tails are exercised
    acc = await GpuStatsAccumulator.create({ gpu: dev, ownsDevice: true, dispatchElements: 3 * STATS_GROUP_ELEMENTS });
    expect(acc.lost).toBeNull();
    dir = await tempDir('chatvec-gpu-stats-');
  });
  afterAll(() => acc?.dispose());

  it('tricky values (subnormals, tiny, huge, ±0, NaN, ±Inf): counts exact, sums within tolerance; subnormal workgroups go to the CPU', async () => {
    const n = 12 * STATS_GROUP_ELEMENTS + 777;
    const arrays = trickyArrays(n, 11);
    const before = { gpu: acc.gpuElements, cpu: acc.cpuElements };
    const g = await sumsOf(acc, arrays, 20000);
    const c = await sumsOf(new CpuStatsAccumulator(), arrays, 20000);
    expect({ elements: g.elements, nonFinite: g.nonFinite, sameSign: g.sameSign, bothNonzero: g.bothNonzero }).toEqual({ elements: c.elements, nonFinite: c.nonFinite, sameSign: c.sameSign, bothNonzero: c.bothNonzero });
    for (const k of ['tauSq', 'cpDeltaSq', 'cpSq'] as const) expect(Math.abs(g[k] - c[k]), k).toBeLessThanOrEqual(2 * TOL * c[k]);
    expect(Math.abs(g.dot - c.dot)).toBeLessThanOrEqual(2 * TOL * Math.sqrt(c.tauSq * c.cpDeltaSq));
    expectMetricsClose(statsMetrics(g), statsMetrics(c), 'tricky');
    expect(acc.gpuElements - before.gpu).toBeGreaterThan(0);
    expect(acc.cpuElements - before.cpu).toBeGreaterThan(0);
    expect(acc.gpuElements - before.gpu + acc.cpuElements - before.cpu).toBe(n);
    expect(acc.lost).toBeNull();
  });

  for (const [label, scale] of [['tiny (2^-70: squares would be subnormal in f32)', 2 ** -70], ['huge (2^70: squares would overflow f32)', 2 ** 70]] as const) {
    it(`a tensor of uniformly ${label} values: within tolerance, through the CPU`, async () => {
      const [base, chat, cp] = trickyArrays(3 * STATS_GROUP_ELEMENTS, 7).map((a) => a.map((v) => (Number.isFinite(v) && Math.abs(v) < 1 ? v : 0.01) * scale));
      const g = await sumsOf(acc, [base, chat, cp], 5000);
      const c = await sumsOf(new CpuStatsAccumulator(), [base, chat, cp], 5000);
      expect(c.tauSq).toBeGreaterThan(0);
      expectMetricsClose(statsMetrics(g), statsMetrics(c), label);
    });
  }

  it('clean f32 data of ordinary size stays on the GPU, chunks cut anywhere', async () => {
    let x = 5;
    const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
    const n = 100_003;
    const base = Float32Array.from({ length: n }, () => rnd() * 0.04);
    const chat = base.map((b) => b + rnd() * 0.005);
    const cp = base.map((b, i) => b + 0.8 * (chat[i] - b) + rnd() * 0.002);
    const before = acc.cpuElements;
    const g = await sumsOf(acc, [base, chat, cp], 9_999);
    const c = await sumsOf(new CpuStatsAccumulator(), [base, chat, cp], 9_999);
    expectMetricsClose(statsMetrics(g), statsMetrics(c), 'clean');
    expect(acc.cpuElements).toBe(before);
  });

  for (const dtype of ['BF16', 'F16', 'F32'] as FloatDtype[]) {
    it(`${dtype} fixture triplet with NaN/Inf and subnormals: every tensor, layer, module within tolerance, counts exact`, async () => {
      const p = await writeTriplet(join(dir, dtype), { arch: dtype === 'F16' ? 'qwen2' : 'llama', dtype, layers: 2, cpExtraTokens: 8, specials: true, seed: 11 });
      const cpu = await statsOf(p);
      const before = { gpu: acc.gpuElements, cpu: acc.cpuElements };
      const g = await statsOf(p, { accumulator: acc, chunkElements: 5000 });
      expectStatsClose(g, cpu);
      // most elements on the GPU; the workgroups holding subnormals on the CPU (f16 subnormals are normal f32 values)
      expect(acc.gpuElements - before.gpu).toBeGreaterThan(acc.cpuElements - before.cpu);
      if (dtype === 'F16') expect(acc.cpuElements).toBe(before.cpu);
      else expect(acc.cpuElements - before.cpu).toBeGreaterThan(0);
      expect(g.total.nonFinite).toBe(5);
      expect(acc.lost).toBeNull();
    });
  }

  it('device lost mid-run: the rest runs on the CPU, results still within tolerance', async () => {
    const p = await writeTriplet(join(dir, 'lost'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, specials: true, seed: 3 });
    const own = (await openGpuDevice(gpu))!;
    const lossy = await GpuStatsAccumulator.create({ gpu: own, ownsDevice: true, dispatchElements: STATS_GROUP_ELEMENTS });
    let adds = 0;
    // destroys the device after a few chunks, while the accumulator is in the middle of the tensors
    const wrapper: StatsAccumulator = {
      async add(base, chat, cp, count) {
        if (++adds === 6) own.device.destroy();
        await lossy.add(base, chat, cp, count);
      },
      take: () => lossy.take(),
    };
    try {
      const cpu = await statsOf(p);
      const g = await statsOf(p, { accumulator: wrapper, chunkElements: 3000 });
      expect(adds).toBeGreaterThan(6);
      expectStatsClose(g, cpu);
      expect(lossy.lost).toMatch(/lost|failed/);
      expect(lossy.gpuElements).toBeGreaterThan(0);
      expect(lossy.cpuElements).toBeGreaterThan(0);
    } finally {
      lossy.dispose();
    }
  });
});

describe.skipIf(!gpu)('chatvec stats --backend', () => {
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), ...args], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('gpu: the CPU numbers within tolerance, a line on stderr; a bad value is a usage error', async () => {
    const p = await writeTriplet(join(await tempDir('chatvec-gpu-stats-cli-'), 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, specials: true, seed: 5 });
    const flags = ['stats', '--base', p.base, '--chat', p.chat, '--cp', p.cp, '--json'];
    const g = run([...flags, '--backend', 'gpu']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toMatch(/^stats backend gpu \(.*\): \d+ elements on the GPU, \d+ on the CPU\n$/);
    const c = run([...flags, '--backend', 'cpu']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toBe('');
    expectStatsClose(JSON.parse(g.stdout), JSON.parse(c.stdout));
    const bad = run([...flags, '--backend', 'auto']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--backend must be cpu or gpu/);
  }, 30_000);
});
