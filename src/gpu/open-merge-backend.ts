/// <reference types="@webgpu/types" />
import { dtypeSize, type FloatDtype } from '../core/dtype.ts';
import { ChatvecError } from '../core/errors.ts';
import { Throughput, type BackendReport, type MergeBackend, type MergeKernel, type TermBytes } from '../core/merge/kernel.ts';
import { openGpuDevice, type GpuDevice } from './device.ts';
import { GpuInexactError, GpuMergeBackend } from './gpu-merge-backend.ts';
import { firstDifference } from './tricky-inputs.ts';

export interface OpenMergeBackendParams {
  /** `gpu`: the GPU or an error; `auto`: time both on the first chunks and keep the faster. */
  choice: 'auto' | 'gpu';
  /** The CPU kernel: the other side of `auto`, the fallback when the GPU is lost, and the GPU's helper. */
  cpu: MergeKernel;
  /** Where to find an adapter (default: navigator.gpu, or the `webgpu` package in Node); null: none. */
  gpu?: GPU | null;
  /** A device opened by the caller (it stays the caller's: not destroyed at the end). */
  device?: GpuDevice;
  /** Elements per GPU dispatch (see GpuMergeBackend). */
  dispatchElements?: number;
}

/** A backend for the merge engine, with the report of what ran and a dispose for the end of the merge. */
export interface SelectedBackend extends MergeBackend {
  report(): BackendReport;
  dispose(): void;
}

/** Chunks `auto` runs on both backends before it chooses; the first of each is a warm-up and not counted. */
export const CALIBRATION_CHUNKS = 4;
/** Smaller merges say little about throughput; they run on the CPU while `auto` is still choosing. */
export const CALIBRATION_MIN_ELEMENTS = 4096;

/** Open the GPU side of a merge: `gpu` throws a ChatvecError when no usable device exists, `auto` settles for the CPU. */
export async function openMergeBackend(p: OpenMergeBackendParams): Promise<SelectedBackend> {
  let device = p.device ?? null;
  let why = '';
  if (!device) {
    device = await openGpuDevice(p.gpu).catch((e: Error) => {
      why = e.message;
      return null;
    });
  }
  if (!device) {
    const found = why ? `an error: ${why}` : 'none (no navigator.gpu, no `webgpu` package, or no driver behind it)';
    if (p.choice === 'gpu') {
      throw new ChatvecError('no usable WebGPU adapter for --backend gpu', {
        code: 'no-gpu',
        expected: 'a WebGPU adapter',
        found,
        hint: 'Use --backend cpu (or auto). In Node, WebGPU comes from the optional `webgpu` package and needs a Vulkan, Metal or D3D12 driver',
      });
    }
    return new Selection(p.cpu, null, false, 'auto', `no WebGPU adapter (${found}); the CPU did the merge`);
  }
  let gpu: GpuMergeBackend;
  try {
    gpu = await GpuMergeBackend.create({ gpu: device, cpu: p.cpu, dispatchElements: p.dispatchElements });
  } catch (e) {
    if (!p.device) device.device.destroy();
    if (p.choice === 'gpu') {
      throw new ChatvecError(`the GPU cannot be used for the merge: ${(e as Error).message}`, {
        code: e instanceof GpuInexactError ? 'gpu-inexact' : 'gpu-failed',
        file: device.description,
        hint: 'Use --backend cpu: the CPU kernel gives the exact result',
      });
    }
    return new Selection(p.cpu, null, false, 'auto', `the GPU (${device.description}) was not used: ${(e as Error).message}`);
  }
  return new Selection(p.cpu, gpu, !p.device, p.choice);
}

type Mode = 'calibrating' | 'gpu' | 'cpu';

class Selection implements SelectedBackend {
  private mode: Mode;
  private note: string | undefined;
  private readonly cpuRate = new Throughput();
  private readonly gpuRate = new Throughput();
  private readonly samples: { cpuMs: number; gpuMs: number; bytes: number }[] = [];
  private calibrated: BackendReport['calibration'];
  private scratch = new Uint8Array(0);
  private readonly gpuDetail: string;

  constructor(
    private readonly cpu: MergeKernel,
    private gpu: GpuMergeBackend | null,
    private readonly ownsDevice: boolean,
    choice: 'auto' | 'gpu',
    note?: string,
  ) {
    this.mode = !gpu ? 'cpu' : choice === 'gpu' ? 'gpu' : 'calibrating';
    this.note = note;
    this.gpuDetail = gpu?.detail ?? '';
  }

  get name(): 'cpu' | 'gpu' {
    return this.mode === 'gpu' ? 'gpu' : 'cpu';
  }

  get detail(): string {
    return this.mode === 'gpu' ? this.gpuDetail : this.cpu.detail;
  }

  async merge(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): Promise<void> {
    const bytes = count * dtypeSize(outDtype);
    if (this.mode === 'gpu') {
      const t0 = performance.now();
      try {
        await this.gpu!.merge(count, cp, cpDtype, terms, outDtype, out);
        this.gpuRate.add(bytes, performance.now() - t0);
        return;
      } catch (e) {
        this.dropGpu(`${(e as Error).message}; the CPU recomputed the chunk it was working on and finished the merge`);
      }
    }
    if (this.mode === 'calibrating' && count >= CALIBRATION_MIN_ELEMENTS) return this.calibrate(count, cp, cpDtype, terms, outDtype, out);
    const t0 = performance.now();
    this.cpu.merge(count, cp, cpDtype, terms, outDtype, out);
    this.cpuRate.add(bytes, performance.now() - t0);
  }

  convert(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array): void {
    this.cpu.convert(count, src, srcDtype, outDtype, out);
  }

  /** Both backends on the same chunk: the CPU's bytes are the output, the GPU's must equal them. */
  private async calibrate(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): Promise<void> {
    const bytes = count * dtypeSize(outDtype);
    let t0 = performance.now();
    this.cpu.merge(count, cp, cpDtype, terms, outDtype, out);
    const cpuMs = performance.now() - t0;
    if (this.scratch.length < bytes) this.scratch = new Uint8Array(bytes);
    const gpuOut = this.scratch.subarray(0, bytes);
    t0 = performance.now();
    try {
      await this.gpu!.merge(count, cp, cpDtype, terms, outDtype, gpuOut);
    } catch (e) {
      this.dropGpu(`${(e as Error).message} while measuring it; the CPU did the merge`);
      return;
    }
    const gpuMs = performance.now() - t0;
    const difference = firstDifference(gpuOut, out, dtypeSize(outDtype));
    if (difference) {
      this.dropGpu(`the GPU's result differed from the CPU's on a ${cpDtype} → ${outDtype} chunk (${difference}); the CPU did the merge`);
      return;
    }
    this.samples.push({ cpuMs, gpuMs, bytes });
    if (this.samples.length > 1) {
      this.cpuRate.add(bytes, cpuMs);
      this.gpuRate.add(bytes, gpuMs);
    }
    if (this.samples.length === CALIBRATION_CHUNKS) this.decide();
  }

  private decide(): void {
    const timed = this.samples.slice(1);
    const rate = (ms: number) => (timed.reduce((a, s) => a + s.bytes, 0) / Math.max(ms, 1e-6)) * 1000;
    const cpuBytesPerSecond = rate(timed.reduce((a, s) => a + s.cpuMs, 0));
    const gpuBytesPerSecond = rate(timed.reduce((a, s) => a + s.gpuMs, 0));
    this.calibrated = { chunks: this.samples.length, cpuBytesPerSecond, gpuBytesPerSecond, gpu: this.gpuDetail };
    this.mode = gpuBytesPerSecond > cpuBytesPerSecond ? 'gpu' : 'cpu';
    if (this.mode === 'cpu') this.releaseGpu();
  }

  private dropGpu(note: string): void {
    this.note = note;
    this.mode = 'cpu';
    this.releaseGpu();
  }

  private releaseGpu(): void {
    if (!this.gpu) return;
    if (!this.calibrated && this.samples.length > 1) {
      this.calibrated = { chunks: this.samples.length, cpuBytesPerSecond: this.cpuRate.bytesPerSecond, gpuBytesPerSecond: this.gpuRate.bytesPerSecond, gpu: this.gpuDetail };
    }
    try {
      this.gpu.dispose(this.ownsDevice);
    } catch {
      // a lost device may refuse; nothing of it is used again
    }
  }

  report(): BackendReport {
    const name = this.name;
    const calibration = this.calibrated ?? (this.samples.length > 1 ? { chunks: this.samples.length, cpuBytesPerSecond: this.cpuRate.bytesPerSecond, gpuBytesPerSecond: this.gpuRate.bytesPerSecond, gpu: this.gpuDetail } : undefined);
    const note = this.note ?? (this.mode === 'calibrating' ? `the merge ended before ${CALIBRATION_CHUNKS} chunks of ${CALIBRATION_MIN_ELEMENTS}+ elements could compare the CPU with the GPU (${this.gpuDetail}); the CPU did the merge` : undefined);
    return {
      name,
      detail: this.detail,
      bytesPerSecond: (name === 'gpu' ? this.gpuRate : this.cpuRate).bytesPerSecond,
      ...(calibration ? { calibration } : {}),
      ...(note ? { note } : {}),
    };
  }

  dispose(): void {
    if (this.mode !== 'cpu') this.releaseGpu();
    this.gpu = null;
  }
}
