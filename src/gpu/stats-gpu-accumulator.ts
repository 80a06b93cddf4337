/// <reference types="@webgpu/types" />
import { accumulateChunk, newStatsState, stateSums, type StatsAccumulator, type StatsSums } from '../core/stats/stats-accumulator.ts';
import { openGpuDevice, type GpuDevice } from './device.ts';
import { STATS_GROUP_ELEMENTS, STATS_PARTIAL_WORDS, STATS_SHADER } from './stats-shader.ts';

/**
 * Precision of the GPU statistics against the CPU reference (`CpuStatsAccumulator`).
 *
 * WGSL has no f64: each workgroup of STATS_GROUP_ELEMENTS (4096) elements forms τ, d and the four
 * products in f32 and sums them in f32 (16 in sequence per invocation, then a tree of 8 levels), so a
 * partial of non-negative terms (Σ τ², Σ d², Σ cp²) is within about 26·2^-24 ≈ 1.6e-6 of its value,
 * and Σ τ·d within that times Σ|τ·d| ≤ ‖τ‖·‖d‖. The partials are read back and added on the CPU in
 * f64 with compensation (TwoSum), which adds no error of note. Hence, against the CPU:
 *
 * - ‖τ‖, ‖cp − base‖, ‖cp‖ and ‖τ‖/‖cp‖: relative difference ≤ STATS_GPU_TOLERANCE (1e-5);
 * - cosine: absolute difference ≤ STATS_GPU_TOLERANCE;
 * - elements, nonFinite, sameSign, bothNonzero (so sign agreement too): exact.
 *
 * Counts are exact because NaN/±Inf are found from the exponent bits, signs by comparing the inputs,
 * and every workgroup that holds a value the f32 path cannot take exactly (subnormal, which SwiftShader
 * flushes to zero, tiny or huge: see stats-shader.ts) is recomputed on the CPU.
 */
export const STATS_GPU_TOLERANCE = 1e-5;

/** Elements per dispatch by default (16 MiB per input buffer). */
const DEFAULT_DISPATCH = 4 << 20;

export interface GpuStatsAccumulatorOptions {
  /** The device (stays the caller's unless `ownsDevice`); null: every chunk on the CPU. */
  gpu: GpuDevice | null;
  /** Destroy the device in `dispose` (for a device opened for this accumulator). */
  ownsDevice?: boolean;
  /** Elements per dispatch (rounded up to a workgroup's worth; default 4 Mi, capped by the binding limits). */
  dispatchElements?: number;
}

interface Buffers {
  params: GPUBuffer;
  inputs: [GPUBuffer, GPUBuffer, GPUBuffer];
  partials: GPUBuffer;
  staging: GPUBuffer;
}

/** Running compensated f64 sum: hi + lo. */
class Compensated {
  hi = 0;
  lo = 0;
  add(x: number): void {
    const s = this.hi + x;
    const bp = s - this.hi;
    this.lo += this.hi - (s - bp) + (x - bp);
    this.hi = s;
  }
  get value(): number {
    return this.hi + this.lo;
  }
}

/**
 * `StatsAccumulator` on a WebGPU device: per-workgroup f32 partial sums and exact u32 counts, added on
 * the CPU in f64 with compensation (precision: see STATS_GPU_TOLERANCE). Workgroups with values outside
 * the kernel's range are recomputed on the CPU; without a device, or once the device is lost or a GPU
 * call fails, every later element is reduced on the CPU (`lost` says why), and nothing already
 * added is lost.
 */
export class GpuStatsAccumulator implements StatsAccumulator {
  /** Elements reduced on the GPU, and on the CPU (out-of-range workgroups, no device, after a loss). */
  gpuElements = 0;
  cpuElements = 0;
  readonly detail: string;
  private device: GPUDevice | null;
  private readonly ownsDevice: boolean;
  private pipeline: GPUComputePipeline | null = null;
  private buffers: Buffers | null = null;
  private readonly dispatch: number;
  private readonly maxGroupsX: number;
  private lostReason: string | null = null;

  private elements = 0;
  private nonFinite = 0;
  private sameSign = 0;
  private bothNonzero = 0;
  private readonly sums = [new Compensated(), new Compensated(), new Compensated(), new Compensated()];

  private constructor(o: GpuStatsAccumulatorOptions) {
    this.device = o.gpu?.device ?? null;
    this.ownsDevice = !!o.ownsDevice;
    this.detail = o.gpu?.description ?? 'no WebGPU device';
    if (!this.device) this.lostReason = 'no WebGPU adapter';
    const limits = this.device?.limits;
    const maxBinding = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : Infinity;
    const fit = Math.floor(maxBinding / 4 / STATS_GROUP_ELEMENTS) * STATS_GROUP_ELEMENTS;
    this.dispatch = Math.max(STATS_GROUP_ELEMENTS, Math.min(fit, Math.ceil((o.dispatchElements ?? DEFAULT_DISPATCH) / STATS_GROUP_ELEMENTS) * STATS_GROUP_ELEMENTS));
    this.maxGroupsX = limits?.maxComputeWorkgroupsPerDimension ?? 65535;
    this.device?.lost.then((info) => {
      this.lostReason ??= `the GPU device was lost: ${info.message || info.reason || 'no reason given'}`;
    });
  }

  /** An accumulator on `o.gpu`; if the kernel does not compile there, it runs on the CPU (see `lost`). */
  static async create(o: GpuStatsAccumulatorOptions): Promise<GpuStatsAccumulator> {
    const a = new GpuStatsAccumulator(o);
    if (a.device) {
      try {
        const module = a.device.createShaderModule({ code: STATS_SHADER, label: 'chat-vector stats' });
        a.pipeline = await a.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: 'chat-vector stats' });
      } catch (e) {
        a.lostReason = `the stats kernel failed to build: ${(e as Error).message ?? String(e)}`;
      }
    }
    return a;
  }

  /** Why the accumulator runs on the CPU (no adapter, device lost, a GPU call failed); null while on the GPU. */
  get lost(): string | null {
    return this.lostReason;
  }

  async add(base: Float32Array, chat: Float32Array, cp: Float32Array, count: number): Promise<void> {
    for (let start = 0; start < count; start += this.dispatch) {
      const n = Math.min(this.dispatch, count - start);
      if (this.lostReason === null) {
        try {
          await this.addOnGpu(base, chat, cp, start, n);
          continue;
        } catch (e) {
          this.lostReason ??= `a GPU call failed: ${(e as Error).message ?? String(e)}`;
        }
      }
      this.addOnCpu(base, chat, cp, start, start + n);
    }
    this.elements += count;
  }

  take(): StatsSums {
    const [tauSq, cpDeltaSq, cpSq, dot] = this.sums.map((s) => s.value);
    const r: StatsSums = { elements: this.elements, nonFinite: this.nonFinite, tauSq, cpDeltaSq, cpSq, dot, sameSign: this.sameSign, bothNonzero: this.bothNonzero };
    this.elements = this.nonFinite = this.sameSign = this.bothNonzero = 0;
    for (const s of this.sums) s.hi = s.lo = 0;
    return r;
  }

  /** Free the GPU buffers (and the device, if this accumulator owns it). */
  dispose(): void {
    if (this.buffers) for (const b of [this.buffers.params, ...this.buffers.inputs, this.buffers.partials, this.buffers.staging]) b.destroy();
    this.buffers = null;
    if (this.ownsDevice) this.device?.destroy();
    this.device = null;
    this.lostReason ??= 'disposed';
  }

  /** Elements [from, to) by the CPU reference's rules, added to the running sums. */
  private addOnCpu(base: Float32Array, chat: Float32Array, cp: Float32Array, from: number, to: number): void {
    if (to <= from) return;
    const st = newStatsState();
    accumulateChunk(st, base.subarray(from, to), chat.subarray(from, to), cp.subarray(from, to), to - from);
    const s = stateSums(st);
    this.sums[0].add(s.tauSq);
    this.sums[1].add(s.cpDeltaSq);
    this.sums[2].add(s.cpSq);
    this.sums[3].add(s.dot);
    this.nonFinite += s.nonFinite;
    this.sameSign += s.sameSign;
    this.bothNonzero += s.bothNonzero;
    this.cpuElements += to - from;
  }

  private ensureBuffers(): Buffers {
    if (this.buffers) return this.buffers;
    const d = this.device!;
    const bytes = this.dispatch * 4;
    const partialBytes = (this.dispatch / STATS_GROUP_ELEMENTS) * STATS_PARTIAL_WORDS * 4;
    const input = () => d.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: 'stats input' });
    this.buffers = {
      params: d.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
      inputs: [input(), input(), input()],
      partials: d.createBuffer({ size: partialBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
      staging: d.createBuffer({ size: partialBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    };
    return this.buffers;
  }

  /** Elements [start, start + n) on the GPU; adds to the running sums only once the whole readback is good. */
  private async addOnGpu(base: Float32Array, chat: Float32Array, cp: Float32Array, start: number, n: number): Promise<void> {
    const d = this.device!;
    const q = d.queue;
    d.pushErrorScope('validation');
    d.pushErrorScope('out-of-memory');
    const b = this.ensureBuffers();
    [base, chat, cp].forEach((a, k) => q.writeBuffer(b.inputs[k], 0, a.buffer as ArrayBuffer, a.byteOffset + start * 4, n * 4));
    q.writeBuffer(b.params, 0, Uint32Array.of(n, 0, 0, 0));
    const groups = Math.ceil(n / STATS_GROUP_ELEMENTS);
    const partialBytes = groups * STATS_PARTIAL_WORDS * 4;
    const bindGroup = d.createBindGroup({
      layout: this.pipeline!.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: b.params } },
        ...b.inputs.map((buffer, k) => ({ binding: k + 1, resource: { buffer, size: n * 4 } })),
        { binding: 4, resource: { buffer: b.partials, size: partialBytes } },
      ],
    });
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(this.pipeline!);
    pass.setBindGroup(0, bindGroup);
    const x = Math.min(groups, this.maxGroupsX);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    pass.end();
    enc.copyBufferToBuffer(b.partials, 0, b.staging, 0, partialBytes);
    q.submit([enc.finish()]);
    const errors = Promise.all([d.popErrorScope(), d.popErrorScope()]);
    const [, [oom, invalid]] = await Promise.all([b.staging.mapAsync(GPUMapMode.READ, 0, partialBytes), errors]);
    if (oom ?? invalid) {
      b.staging.unmap();
      throw new Error((oom ?? invalid)!.message);
    }
    if (this.lostReason !== null) {
      // lost while in flight: the readback may be stale
      b.staging.unmap();
      throw new Error(this.lostReason);
    }
    const mapped = b.staging.getMappedRange(0, partialBytes);
    const words = new Uint32Array(mapped.slice(0));
    b.staging.unmap();
    const f = new Float32Array(words.buffer);
    const flagged: number[] = [];
    for (let g = 0; g < groups; g++) {
      const o = g * STATS_PARTIAL_WORDS;
      if (words[o + 7] !== 0 || !(Number.isFinite(f[o]) && Number.isFinite(f[o + 1]) && Number.isFinite(f[o + 2]) && Number.isFinite(f[o + 3]))) {
        flagged.push(g);
        continue;
      }
      for (let k = 0; k < 4; k++) this.sums[k].add(f[o + k]);
      this.nonFinite += words[o + 4];
      this.sameSign += words[o + 5];
      this.bothNonzero += words[o + 6];
      this.gpuElements += Math.min(STATS_GROUP_ELEMENTS, n - g * STATS_GROUP_ELEMENTS);
    }
    for (const g of flagged) {
      const from = start + g * STATS_GROUP_ELEMENTS;
      this.addOnCpu(base, chat, cp, from, Math.min(start + n, from + STATS_GROUP_ELEMENTS));
    }
  }
}

/**
 * A GPU stats accumulator on a device of its own (`navigator.gpu`, or the `webgpu` package in Node;
 * `gpu` overrides, null for none). Without an adapter it still works, on the CPU (`lost` says so).
 */
export async function openGpuStatsAccumulator(o: { gpu?: GPU | null; dispatchElements?: number } = {}): Promise<GpuStatsAccumulator> {
  const dev = await openGpuDevice(o.gpu).catch(() => null);
  return GpuStatsAccumulator.create({ gpu: dev, ownsDevice: true, dispatchElements: o.dispatchElements });
}
