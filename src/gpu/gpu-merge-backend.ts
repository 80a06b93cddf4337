/// <reference types="@webgpu/types" />
import { dtypeSize, f32ToBits, type FloatDtype } from '../core/dtype.ts';
import { MergeKernel, type MergeBackend, type TermBytes } from '../core/merge/kernel.ts';
import type { GpuDevice } from './device.ts';
import { elementsPerWord, flagWordsPerGroup, mergeShaderSource, shaderKey, WORKGROUP_SIZE, type MergeShaderSpec } from './merge-shader.ts';
import { firstDifference, SeededRandom, trickyMergeCase } from './tricky-inputs.ts';

/** The GPU stopped working (device lost or destroyed, or a GPU call failed); what it was computing is not to be used. */
export class GpuLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuLostError';
  }
}

/** The device's arithmetic does not reproduce the CPU kernel's bytes (found by the self-test). */
export class GpuInexactError extends Error {
  constructor(detail: string) {
    super(`the GPU's merge results differ from the CPU's: ${detail}`);
    this.name = 'GpuInexactError';
  }
}

export interface GpuMergeBackendOptions {
  gpu: GpuDevice;
  /** The exact CPU kernel: recomputes the elements the GPU flags, and does every `convert`. */
  cpu: MergeKernel;
  /** Elements per dispatch (default 1 Mi, capped by the device's binding limits); two dispatches are in flight. */
  dispatchElements?: number;
  /** Run the self-test before first use (default true). */
  selfTest?: boolean;
}

/** One of the two sets of GPU buffers that alternate between dispatches. */
interface Slot {
  /** cp, then base and chat of each term, one region of `dispatchElements` f32 words each. */
  inputs: GPUBuffer | null;
  params: GPUBuffer;
  out: GPUBuffer;
  flags: GPUBuffer;
  staging: GPUBuffer;
  /** The readback of this slot's last dispatch. */
  pending: Promise<void> | null;
}

/** What every backend on one device shares: compiled pipelines and the self-test's verdict. */
interface DeviceState {
  pipelines: Map<string, Promise<GPUComputePipeline>>;
  nativeF16: boolean;
  selfTest?: Promise<void>;
}
const deviceStates = new WeakMap<GPUDevice, DeviceState>();

const MAX_DISPATCH = 1 << 20;
const PARAMS_HEADER = 16;
/** α values the uniform block holds (64 vec4). */
const MAX_TERMS = 256;

/** α values the kernel takes as they are; others (subnormal, huge, Inf, NaN) run the chunk on the CPU. */
function safeAlpha(alpha: number): boolean {
  const b = f32ToBits(alpha);
  const e = (b >>> 23) & 0xff;
  return (b & 0x7fffffff) === 0 || (e >= 2 && e <= 253);
}

/**
 * The merge on a WebGPU device, byte for byte the CPU kernel's result (see merge-shader.ts for how).
 * A chunk is cut into dispatches; dispatch j+1 is uploaded and computed while dispatch j's result is
 * mapped and copied out. Elements the kernel flags (subnormals, ±Inf, NaN, overflow on the way) are
 * recomputed on the CPU; `cpuElements` counts them.
 */
export class GpuMergeBackend implements MergeBackend {
  readonly name = 'gpu' as const;
  readonly detail: string;
  readonly device: GPUDevice;
  /** Elements computed on the GPU, and elements the CPU computed instead (flagged, or not expressible as a kernel). */
  gpuElements = 0;
  cpuElements = 0;
  private readonly cpu: MergeKernel;
  private readonly maxDispatch: number;
  private readonly maxBinding: number;
  private readonly maxGroupsX: number;
  private readonly shared: DeviceState;
  private readonly slots: Slot[] = [];
  private lostReason: string | null = null;

  private constructor(o: GpuMergeBackendOptions) {
    this.device = o.gpu.device;
    this.detail = o.gpu.description;
    this.cpu = o.cpu;
    let shared = deviceStates.get(this.device);
    if (!shared) deviceStates.set(this.device, (shared = { pipelines: new Map(), nativeF16: o.gpu.shaderF16 }));
    this.shared = shared;
    const limits = this.device.limits;
    this.maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    this.maxDispatch = roundUp(o.dispatchElements ?? MAX_DISPATCH, 2 * WORKGROUP_SIZE);
    this.maxGroupsX = limits.maxComputeWorkgroupsPerDimension;
    this.device.lost.then((info) => {
      this.lostReason ??= `the GPU device was lost: ${info.message || info.reason || 'no reason given'}`;
    });
  }

  /**
   * A backend on `gpu`; with the self-test (default; once per device) it refuses a device whose
   * results differ from the CPU's. Backends on one device share its compiled pipelines.
   */
  static async create(o: GpuMergeBackendOptions): Promise<GpuMergeBackend> {
    const b = new GpuMergeBackend(o);
    if (o.selfTest !== false) {
      b.shared.selfTest ??= b.selfTest();
      await b.shared.selfTest;
    }
    return b;
  }

  get lost(): boolean {
    return this.lostReason !== null;
  }

  async merge(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): Promise<void> {
    if (this.lostReason !== null) throw new GpuLostError(this.lostReason);
    if (count === 0) return;
    const dispatchElements = this.dispatchElements(terms.length);
    if (terms.length === 0 || terms.length > MAX_TERMS || dispatchElements === 0 || !terms.every((t) => safeAlpha(t.alpha))) {
      this.cpu.merge(count, cp, cpDtype, terms, outDtype, out);
      this.cpuElements += count;
      return;
    }
    const spec: MergeShaderSpec = { cp: cpDtype, terms: terms.map((t) => ({ base: t.baseDtype, chat: t.chatDtype })), out: outDtype, nativeF16: this.shared.nativeF16 };
    // a kernel that does not compile is this kernel's problem, not the device's: the backend stays usable
    const pipeline = await this.pipeline(spec);
    try {
      for (let start = 0, j = 0; start < count; start += dispatchElements, j++) {
        const slot = this.slot(j % 2, terms.length);
        if (slot.pending) await slot.pending;
        if (this.lostReason !== null) throw new GpuLostError(this.lostReason);
        const n = Math.min(dispatchElements, count - start);
        slot.pending = this.dispatch(slot, pipeline, start, n, cp, cpDtype, terms, outDtype, out);
        slot.pending.catch(() => undefined); // awaited below or by the next dispatch on this slot
      }
      for (const s of this.slots) if (s.pending) await s.pending;
    } catch (e) {
      await Promise.allSettled(this.slots.map((s) => s.pending));
      this.lostReason ??= e instanceof GpuLostError ? e.message : `a GPU call failed: ${(e as Error).message ?? String(e)}`;
      throw new GpuLostError(this.lostReason);
    } finally {
      for (const s of this.slots) s.pending = null;
    }
  }

  convert(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array): void {
    this.cpu.convert(count, src, srcDtype, outDtype, out);
  }

  /** Free the GPU buffers; `destroyDevice` also ends the device (for a device this backend's owner opened). */
  dispose(destroyDevice: boolean): void {
    for (const s of this.slots) for (const b of [s.inputs, s.params, s.out, s.flags, s.staging]) b?.destroy();
    this.slots.length = 0;
    if (destroyDevice) this.device.destroy();
  }

  /** Upload elements [start, start + n), dispatch, copy back; resolves once `out` holds them. */
  private dispatch(slot: Slot, pipeline: GPUComputePipeline, start: number, n: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): Promise<void> {
    const q = this.device.queue;
    // A validation or memory error would leave the staging buffer stale but mappable: check before using it.
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    const inputs: [Uint8Array, FloatDtype][] = [[cp, cpDtype], ...terms.flatMap((t): [Uint8Array, FloatDtype][] => [[t.base, t.baseDtype], [t.chat, t.chatDtype]])];
    const stride = this.dispatchElements(terms.length); // words per input region
    inputs.forEach(([bytes, dtype], r) => upload(q, slot.inputs!, r * stride * 4, bytes, start * dtypeSize(dtype), n * dtypeSize(dtype)));
    const epw = elementsPerWord(outDtype);
    const words = Math.ceil(n / epw);
    const groups = Math.ceil(words / WORKGROUP_SIZE);
    const params = new Uint32Array(PARAMS_HEADER / 4 + 4 * Math.max(1, Math.ceil(terms.length / 4)));
    params.set([n, words, 0, stride]);
    terms.forEach((t, k) => (params[4 + k] = f32ToBits(t.alpha)));
    q.writeBuffer(slot.params, 0, params);
    const flagWords = groups * flagWordsPerGroup(outDtype);
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: slot.params, size: params.byteLength } },
        { binding: 1, resource: { buffer: slot.inputs!, size: inputs.length * stride * 4 } },
        { binding: 2, resource: { buffer: slot.out, size: words * 4 } },
        { binding: 3, resource: { buffer: slot.flags, size: flagWords * 4 } },
      ],
    });
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(slot.flags, 0, flagWords * 4);
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const x = Math.min(groups, this.maxGroupsX);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    pass.end();
    const resultBytes = (words + flagWords) * 4;
    enc.copyBufferToBuffer(slot.out, 0, slot.staging, 0, words * 4);
    enc.copyBufferToBuffer(slot.flags, 0, slot.staging, words * 4, flagWords * 4);
    q.submit([enc.finish()]);
    const errors = Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
    return Promise.all([slot.staging.mapAsync(GPUMapMode.READ, 0, resultBytes), errors]).then(([, [oom, invalid]]) => {
      const error = oom ?? invalid;
      if (error) {
        slot.staging.unmap();
        throw new GpuLostError(`a GPU call failed: ${error.message}`);
      }
      const mapped = slot.staging.getMappedRange(0, resultBytes);
      const outSize = dtypeSize(outDtype);
      out.set(new Uint8Array(mapped, 0, n * outSize), start * outSize);
      const flags = new Uint32Array(mapped, words * 4, flagWords);
      let flagged = 0;
      // runs of flagged elements (flag bit i = element i of this dispatch)
      for (let w = 0; w < flagWords; w++) {
        let bits = flags[w];
        while (bits !== 0) {
          const first = 31 - Math.clz32(bits & -bits);
          let last = first;
          while (last < 31 && (bits >>> (last + 1)) & 1) last++;
          bits = last === 31 ? 0 : bits & ~((2 ** (last + 1) - 1) >>> 0);
          const a = w * 32 + first, b = Math.min(n, w * 32 + last + 1);
          if (a >= b) continue;
          this.recomputeOnCpu(start + a, start + b, cp, cpDtype, terms, outDtype, out);
          flagged += b - a;
        }
      }
      slot.staging.unmap();
      this.cpuElements += flagged;
      this.gpuElements += n - flagged;
    });
  }

  /**
   * Elements [from, to) through the CPU kernel's JS path (its SIMD path writes whole groups of 8, past
   * `to`), in pieces no larger than the kernel's scratch.
   */
  private recomputeOnCpu(from: number, to: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): void {
    if (to - from > this.cpu.elements) {
      for (let a = from; a < to; a += this.cpu.elements) this.recomputeOnCpu(a, Math.min(to, a + this.cpu.elements), cp, cpDtype, terms, outDtype, out);
      return;
    }
    const part = (bytes: Uint8Array, dtype: FloatDtype) => bytes.subarray(from * dtypeSize(dtype), to * dtypeSize(dtype));
    const result = new Uint8Array((to - from) * dtypeSize(outDtype)); // outside the kernel's memory: the JS path
    this.cpu.merge(to - from, part(cp, cpDtype), cpDtype, terms.map((t) => ({ ...t, alpha: Math.fround(t.alpha), base: part(t.base, t.baseDtype), chat: part(t.chat, t.chatDtype) })), outDtype, result);
    out.set(result, from * dtypeSize(outDtype));
  }

  private pipeline(spec: MergeShaderSpec): Promise<GPUComputePipeline> {
    const key = shaderKey(spec);
    let p = this.shared.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: mergeShaderSource(spec), label: `merge ${key}` });
      p = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: `merge ${key}` });
      this.shared.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * Elements per dispatch with `terms` terms: the requested size, or less where the 1 + 2·terms input
   * regions of f32 words would not fit one storage binding; 0 when not even a workgroup's worth fits.
   */
  private dispatchElements(terms: number): number {
    const unit = 2 * WORKGROUP_SIZE;
    const fit = Math.floor(this.maxBinding / (4 * (1 + 2 * terms)) / unit) * unit;
    return Math.min(this.maxDispatch, fit);
  }

  /** Slot `i`, with room for `terms` terms' input regions (buffers made on first use, grown when needed). */
  private slot(i: number, terms: number): Slot {
    const d = this.device;
    const elements = this.maxDispatch;
    if (!this.slots[i]) {
      const flagBytes = Math.ceil(elements / 32) * 4;
      this.slots[i] = {
        inputs: null,
        params: d.createBuffer({ size: PARAMS_HEADER + 4 * MAX_TERMS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
        out: d.createBuffer({ size: elements * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
        flags: d.createBuffer({ size: flagBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }),
        staging: d.createBuffer({ size: elements * 4 + flagBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
        pending: null,
      };
    }
    const s = this.slots[i];
    const inputBytes = (1 + 2 * terms) * this.dispatchElements(terms) * 4;
    if (!s.inputs || s.inputs.size < inputBytes) {
      s.inputs?.destroy();
      s.inputs = d.createBuffer({ size: inputBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    }
    return s;
  }

  /**
   * Run tricky inputs (subnormals, ties, cancellations, specials) through the kernels of the common
   * dtypes and compare with the CPU; a device with `shader-f16` whose native f16 decoding differs
   * falls back to integer decoding, any other difference throws GpuInexactError.
   */
  private async selfTest(): Promise<void> {
    const rng = new SeededRandom(0x5eed);
    const count = 4 * WORKGROUP_SIZE + 3;
    const reference = new MergeKernel(count, 0);
    const cases: [FloatDtype, FloatDtype, number][] = [['BF16', 'BF16', 1], ['F16', 'F16', 0.75], ['F32', 'F32', -1.5], ['BF16', 'F32', 0.3], ['F16', 'BF16', 2]];
    for (const [inDtype, outDtype, alpha] of cases) {
      const c = trickyMergeCase(rng, count, inDtype, [{ baseDtype: inDtype, chatDtype: inDtype, alpha }]);
      const nativeF16 = inDtype === 'F16' && this.shared.nativeF16;
      const mismatch = await this.compare(reference, c.count, c.cp, c.cpDtype, c.terms, outDtype).catch((e: Error) => {
        if (!nativeF16 || this.lost) throw e;
        return `the shader-f16 kernel failed: ${e.message}`;
      });
      if (mismatch === null) continue;
      if (nativeF16) {
        this.shared.nativeF16 = false;
        if ((await this.compare(reference, c.count, c.cp, c.cpDtype, c.terms, outDtype)) === null) continue;
      }
      throw new GpuInexactError(`${inDtype} → ${outDtype}, ${mismatch}`);
    }
    this.gpuElements = this.cpuElements = 0;
    // the self-test's own buffers go; the merge sizes its own
    this.dispose(false);
  }

  /** Null when the GPU and the CPU write the same bytes, else where they first differ. */
  private async compare(reference: MergeKernel, count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype): Promise<string | null> {
    const size = dtypeSize(outDtype);
    const gpuOut = new Uint8Array(count * size), cpuOut = new Uint8Array(count * size);
    await this.merge(count, cp, cpDtype, terms, outDtype, gpuOut);
    reference.merge(count, cp, cpDtype, terms, outDtype, cpuOut);
    return firstDifference(gpuOut, cpuOut, size);
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

/** queue.writeBuffer of `len` bytes of `bytes` from `offset` to `at`; a tail of less than 4 bytes goes through a padded copy. */
function upload(q: GPUQueue, buffer: GPUBuffer, at: number, bytes: Uint8Array, offset: number, len: number): void {
  const whole = len & ~3;
  if (whole > 0) q.writeBuffer(buffer, at, bytes.buffer, bytes.byteOffset + offset, whole);
  if (whole < len) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(offset + whole, offset + len));
    q.writeBuffer(buffer, at + whole, tail);
  }
}
