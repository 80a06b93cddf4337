import { decodeToF32, encodeFromF32, type FloatDtype } from '../dtype.ts';
import { KERNEL_WASM_BASE64 } from './kernel-wasm.ts';

export interface TermBytes {
  base: Uint8Array;
  baseDtype: FloatDtype;
  chat: Uint8Array;
  chatDtype: FloatDtype;
  /** α, an f32 value. */
  alpha: number;
}

/** Where the merge arithmetic runs: this CPU kernel, or the WebGPU one (src/gpu). Both write the same bytes. */
export interface MergeBackend {
  readonly name: 'cpu' | 'gpu';
  /** How it runs: `simd` or `js` on the CPU, the adapter on the GPU. */
  readonly detail: string;
  /** out = cp + Σ αᵢ·(chatᵢ − baseᵢ) for `count` elements (see MergeKernel.merge). */
  merge(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): void | Promise<void>;
  /** Convert `count` elements between float dtypes, NaN payloads kept (see MergeKernel.convert). */
  convert(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array): void | Promise<void>;
}

/** `auto` measures both on the first chunks and keeps the faster. */
export type BackendChoice = 'auto' | 'cpu' | 'gpu';

/** Which backend did the merge arithmetic, and how fast. */
export interface BackendReport {
  name: 'cpu' | 'gpu';
  detail: string;
  /** Output bytes of merged elements per second spent in this backend's merge calls. */
  bytesPerSecond: number;
  /** `auto`: what the first chunks measured on each (0 where a backend never ran a timed chunk). */
  calibration?: { chunks: number; cpuBytesPerSecond: number; gpuBytesPerSecond: number; gpu: string };
  /** Why the merge did not use, or stopped using, the GPU. */
  note?: string;
}

/** Merged output bytes and the time spent on them. */
export class Throughput {
  bytes = 0;
  ms = 0;
  add(bytes: number, ms: number): void {
    this.bytes += bytes;
    this.ms += ms;
  }
  get bytesPerSecond(): number {
    return this.ms > 0 ? (this.bytes / this.ms) * 1000 : 0;
  }
}

interface KernelExports {
  memory: WebAssembly.Memory;
  merge1_bf16(cp: number, base: number, chat: number, out: number, n: number, alpha: number): void;
  merge1_f32(cp: number, base: number, chat: number, out: number, n: number, alpha: number): void;
  bf16_to_f32(src: number, dst: number, n: number): void;
  acc_bf16(acc: number, base: number, chat: number, n: number, alpha: number): void;
  acc_f32(acc: number, base: number, chat: number, n: number, alpha: number): void;
  f32_to_bf16(src: number, dst: number, n: number): void;
  f32_canon(src: number, dst: number, n: number): void;
}

let wasmModule: WebAssembly.Module | null | undefined;
/** The SIMD module, compiled once; null where WebAssembly SIMD is unavailable (the JS path then runs). */
function kernelModule(): WebAssembly.Module | null {
  if (wasmModule === undefined) {
    try {
      const bin = atob(KERNEL_WASM_BASE64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      wasmModule = new WebAssembly.Module(bytes);
    } catch {
      wasmModule = null;
    }
  }
  return wasmModule;
}

/** Kernels read up to 32 bytes past the last element (they work in groups of 8). */
const SLACK = 64;

/**
 * The merge's arithmetic and the memory it works in. Buffers come from `alloc` so that the SIMD
 * kernels can use them in place; everything is allocated once, up front, and never grows.
 */
export class MergeKernel implements MergeBackend {
  readonly name = 'cpu' as const;
  private readonly wasm: KernelExports | null;
  private readonly buffer: ArrayBuffer;
  private next = 0;
  readonly acc: Float32Array;
  private readonly a: Float32Array;
  private readonly b: Float32Array;

  /** `bufferBytes`: total size of the I/O buffers the caller will `alloc`; `elements`: largest chunk. */
  constructor(readonly elements: number, bufferBytes: number, opts: { wasm?: boolean } = {}) {
    const scratch = 3 * (elements * 4 + SLACK);
    const total = bufferBytes + scratch + 64 * 16;
    const mod = opts.wasm === false ? null : kernelModule();
    if (mod) {
      const instance = new WebAssembly.Instance(mod);
      const ex = instance.exports as unknown as KernelExports;
      ex.memory.grow(Math.ceil(total / 65536));
      this.wasm = ex;
      this.buffer = ex.memory.buffer as ArrayBuffer;
    } else {
      this.wasm = null;
      this.buffer = new ArrayBuffer(total + 65536);
    }
    this.next = 16;
    this.acc = new Float32Array(this.buffer, this.allocOffset(elements * 4 + SLACK), elements);
    this.a = new Float32Array(this.buffer, this.allocOffset(elements * 4 + SLACK), elements);
    this.b = new Float32Array(this.buffer, this.allocOffset(elements * 4 + SLACK), elements);
  }

  get simd(): boolean {
    return this.wasm !== null;
  }

  get detail(): string {
    return this.simd ? 'simd' : 'js';
  }

  private allocOffset(bytes: number): number {
    const off = (this.next + 15) & ~15;
    if (off + bytes > this.buffer.byteLength) throw new Error(`internal: merge kernel memory exhausted (${off + bytes} > ${this.buffer.byteLength})`);
    this.next = off + bytes;
    return off;
  }

  /** A 16-byte aligned buffer of `bytes` (plus slack) inside the kernel's memory. */
  alloc(bytes: number): Uint8Array {
    return new Uint8Array(this.buffer, this.allocOffset(bytes + SLACK), bytes + SLACK).subarray(0, bytes);
  }

  /**
   * out = cp + Σ αᵢ·(chatᵢ − baseᵢ), every operation rounded to f32 in that order, then rounded to
   * nearest even into `outDtype`. NaN results are written as the canonical quiet NaN.
   */
  merge(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): void {
    const w = this.wasm && this.inMemory(cp, out, ...terms.flatMap((t) => [t.base, t.chat])) ? this.wasm : null;
    if (w && terms.length === 1) {
      const t = terms[0];
      if (cpDtype === 'BF16' && t.baseDtype === 'BF16' && t.chatDtype === 'BF16' && outDtype === 'BF16') {
        w.merge1_bf16(cp.byteOffset, t.base.byteOffset, t.chat.byteOffset, out.byteOffset, count, t.alpha);
        return;
      }
      if (cpDtype === 'F32' && t.baseDtype === 'F32' && t.chatDtype === 'F32' && outDtype === 'F32') {
        w.merge1_f32(cp.byteOffset, t.base.byteOffset, t.chat.byteOffset, out.byteOffset, count, t.alpha);
        return;
      }
    }
    const acc = this.acc;
    if (w && cpDtype === 'BF16') w.bf16_to_f32(cp.byteOffset, acc.byteOffset, count);
    else decodeToF32(cp, cpDtype, acc, count);
    for (const t of terms) {
      if (w && t.baseDtype === 'BF16' && t.chatDtype === 'BF16') {
        w.acc_bf16(acc.byteOffset, t.base.byteOffset, t.chat.byteOffset, count, t.alpha);
        continue;
      }
      const a = this.a, b = this.b;
      decodeToF32(t.base, t.baseDtype, a, count);
      decodeToF32(t.chat, t.chatDtype, b, count);
      if (w) {
        w.acc_f32(acc.byteOffset, a.byteOffset, b.byteOffset, count, t.alpha);
        continue;
      }
      const alpha = t.alpha;
      // f64 evaluation of one f32 op followed by f32 rounding equals the f32 op (53 ≥ 2·24 + 2), so this is exact f32 arithmetic.
      for (let i = 0; i < count; i++) acc[i] += Math.fround(alpha * Math.fround(b[i] - a[i]));
    }
    if (w && outDtype === 'BF16') w.f32_to_bf16(acc.byteOffset, out.byteOffset, count);
    else if (w && outDtype === 'F32') w.f32_canon(acc.byteOffset, out.byteOffset, count);
    else encodeFromF32(acc, outDtype, out, count, true);
  }

  /** Convert `count` elements between float dtypes (a plain copy when they are equal); NaN payloads are kept. */
  convert(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array): void {
    if (srcDtype === outDtype) {
      out.set(src.subarray(0, out.length));
      return;
    }
    decodeToF32(src, srcDtype, this.acc, count);
    encodeFromF32(this.acc, outDtype, out, count, false);
  }

  private inMemory(...views: Uint8Array[]): boolean {
    return views.every((v) => v.buffer === this.buffer && v.byteOffset % 4 === 0);
  }
}
