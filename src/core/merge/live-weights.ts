/**
 * Live α: a merge plan's inputs held in memory as f32 (cp, and τ = chat − base per chat vector), so that
 * θ = cp + Σ αᵢ·τᵢ at a new α is one pass of f32 arithmetic with no reads and no output file.
 *
 * Every value equals what `runMerge` writes for the same plan at output dtype F32: the engine rounds
 * `chat − base` to f32, multiplies by α (rounded), adds to the accumulator (rounded), in that order,
 * and so does `fill`. (The engine writes NaN results as the canonical quiet NaN; here a NaN keeps its bits.)
 */
import { decodeToF32, dtypeSize, isFloatDtype, type FloatDtype } from '../dtype.ts';
import { ChatvecError, throwIfAborted } from '../errors.ts';
import type { MergePlan, PlanEntry } from '../plan.ts';
import type { TensorRef } from '../checkpoint.ts';

interface LiveTensor {
  shape: number[];
  /** cp's values, f32. */
  cp: Float32Array;
  /** τᵢ = f32(chatᵢ − baseᵢ) over the merged elements [0, τᵢ.length). */
  taus: Float32Array[];
  /** Rows replaced after the arithmetic (special-token rows copied from another model), f32. */
  patches: { at: number; values: Float32Array }[];
}

export interface LiveWeightsOptions {
  signal?: AbortSignal;
  /** Bytes of tensor data read so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
}

export class LiveWeights {
  private constructor(private readonly tensors: Map<string, LiveTensor>) {}

  /** Read and decode every float tensor of `plan` (cp, base and chat of each merged one) once. */
  static async load(plan: MergePlan, opts: LiveWeightsOptions = {}): Promise<LiveWeights> {
    const tensors = new Map<string, LiveTensor>();
    const total = plan.entries.reduce((a, e) => a + e.cp.byteLength + (e.action === 'merge' ? e.terms.reduce((b, t) => b + t.base.byteLength + t.chat.byteLength, 0) : 0), 0);
    let done = 0;
    for (const entry of plan.entries) {
      throwIfAborted(opts.signal);
      if (!isFloatDtype(entry.cp.dtype)) continue; // integer buffers are not weights the preview reads
      const n = entry.shape.reduce((a, b) => a * b, 1);
      const cols = entry.shape.slice(1).reduce((a, b) => a * b, 1);
      const cp = await readF32(entry.cp, 0, n);
      done += entry.cp.byteLength;
      const taus: Float32Array[] = [];
      if (entry.action === 'merge') {
        const merged = entry.mergeRows !== undefined ? entry.mergeRows * cols : n;
        for (const term of entry.terms) {
          const tau = await readF32(term.chat, 0, merged);
          const base = await readF32(term.base, 0, merged);
          for (let i = 0; i < merged; i++) tau[i] = tau[i] - base[i]; // a Float32Array store rounds to f32, as the kernel does
          taus.push(tau);
          done += term.base.byteLength + term.chat.byteLength;
        }
      }
      const patches = await Promise.all(entry.rowPatches.map(async (p) => ({ at: p.row * cols, values: await readF32(p.source, p.sourceRow * cols, cols) })));
      tensors.set(entry.name, { shape: entry.shape, cp, taus, patches });
      opts.onProgress?.(done, total);
    }
    return new LiveWeights(tensors);
  }

  shape(name: string): number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  /**
   * Write tensor `name` merged with the α of each chat vector (`alphas[i]`, f32 values, as a plan's
   * `terms[i].alpha`) into `out`.
   */
  fill(name: string, alphas: readonly number[], out: Float32Array): void {
    const t = this.tensors.get(name);
    if (!t) throw new ChatvecError('the live merge has no such tensor', { code: 'live-missing-tensor', tensor: name, hint: 'Reopen the live model: the plan changed' });
    if (out.length !== t.cp.length) throw new Error(`internal: ${name} has ${t.cp.length} values, the buffer ${out.length}`);
    if (alphas.length !== t.taus.length) throw new Error(`internal: ${name} has ${t.taus.length} chat vectors, given ${alphas.length} α`);
    out.set(t.cp);
    for (let k = 0; k < t.taus.length; k++) {
      const tau = t.taus[k];
      const alpha = Math.fround(alphas[k]);
      // f64 evaluation of one f32 op followed by f32 rounding equals the f32 op, so this is exact f32 arithmetic.
      for (let i = 0; i < tau.length; i++) out[i] = out[i] + Math.fround(alpha * tau[i]);
    }
    for (const p of t.patches) out.set(p.values, p.at);
  }

  /** α per chat vector for each merged tensor of `plan` (a re-plan of the same inputs at another α). */
  static alphasOf(plan: MergePlan): Map<string, number[]> {
    return new Map(plan.entries.map((e: PlanEntry) => [e.name, e.action === 'merge' ? e.terms.map((t) => t.alpha) : []]));
  }

  /** Whether `plan` merges exactly the tensors, rows and vectors these weights were loaded for. */
  matches(plan: MergePlan): boolean {
    let floats = 0;
    for (const e of plan.entries) {
      if (!isFloatDtype(e.cp.dtype)) continue;
      floats++;
      const t = this.tensors.get(e.name);
      if (!t || t.shape.join() !== e.shape.join() || t.patches.length !== e.rowPatches.length) return false;
      const cols = e.shape.slice(1).reduce((a, b) => a * b, 1);
      const merged = e.action !== 'merge' ? 0 : e.mergeRows !== undefined ? e.mergeRows * cols : t.cp.length;
      if (e.action === 'merge' ? t.taus.length !== e.terms.length || t.taus.some((x) => x.length !== merged) : t.taus.length !== 0) return false;
    }
    return floats === this.tensors.size;
  }
}

/** `count` values of a tensor from element `start`, as f32 (a fresh buffer). */
async function readF32(ref: TensorRef, start: number, count: number): Promise<Float32Array> {
  const size = dtypeSize(ref.dtype);
  const bytes = await ref.source.read(ref.offset + start * size, count * size, new Uint8Array(new ArrayBuffer(count * size)));
  const out = new Float32Array(count);
  decodeToF32(bytes, ref.dtype as FloatDtype, out, count);
  return out;
}
