/** Fill the graph's external data files from weights in memory or in a checkpoint. */
import type { Checkpoint } from '../../core/checkpoint.ts';
import { decodeToF32, encodeFromF32, isFloatDtype } from '../../core/dtype.ts';
import { ChatvecError, throwIfAborted } from '../../core/errors.ts';
import type { DecoderGraph } from './decoder-graph.ts';

/** f32 values of one tensor by HF name; `shape` is what the graph expects. */
export type WeightGetter = (name: string, shape: number[]) => Float32Array | Promise<Float32Array>;
/** Writes the f32 values of one tensor into `out` (the live merge fills the graph's buffers in place). */
export interface WeightFiller {
  fill(name: string, shape: number[], out: Float32Array): void | Promise<void>;
}
/** Merged weights in memory, a getter that reads / computes them one tensor at a time, or a filler. */
export type WeightSource = Map<string, Float32Array> | WeightGetter | WeightFiller;

/** The `externalData` entries of ORT's session options. */
export interface ExternalDataFile {
  path: string;
  data: Uint8Array;
}

export interface PackOptions {
  signal?: AbortSignal;
  /** Buffers of an earlier pack of the same graph to fill again (ORT copies external data at session creation). */
  reuse?: ExternalDataFile[];
  onProgress?: (done: number, total: number) => void;
}

/** Read every weight once and write it (as f32 or f16) where the graph's initializers point. */
export async function packExternalData(graph: DecoderGraph, weights: WeightSource, opts: PackOptions = {}): Promise<ExternalDataFile[]> {
  const reuse = new Map((opts.reuse ?? []).map((f) => [f.path, f.data]));
  const files = new Map(graph.files.map((f) => {
    const old = reuse.get(f.path);
    return [f.path, old && old.length === f.byteLength ? old : new Uint8Array(f.byteLength)];
  }));
  const total = graph.weights.reduce((a, s) => a + s.byteLength, 0);
  let done = 0;
  for (const slot of graph.weights) {
    throwIfAborted(opts.signal);
    const count = slot.shape.reduce((a, b) => a * b, 1);
    const dst = files.get(slot.file)!.subarray(slot.offset, slot.offset + slot.byteLength);
    if (!(weights instanceof Map) && typeof weights !== 'function') {
      // f32 slots are filled in place (offsets are aligned); f16 ones through an f32 buffer.
      const direct = slot.dtype === 'f32' ? new Float32Array(dst.buffer, dst.byteOffset, count) : null;
      const values = direct ?? new Float32Array(count);
      await weights.fill(slot.name, slot.shape, values);
      if (!direct) encodeFromF32(values, 'F16', dst, count);
    } else {
      const values = typeof weights === 'function' ? await weights(slot.name, slot.shape) : weights.get(slot.name);
      if (!values) throw new ChatvecError('a weight the preview needs is missing', { code: 'preview-missing-tensor', tensor: slot.name, expected: `shape [${slot.shape.join(', ')}]`, found: 'no such tensor', hint: missingHint(slot.name) });
      if (values.length !== count) throw new ChatvecError('a weight has the wrong size for config.json', { code: 'preview-tensor-shape', tensor: slot.name, expected: `${count} values (shape [${slot.shape.join(', ')}])`, found: `${values.length} values` });
      encodeFromF32(values, slot.dtype === 'f16' ? 'F16' : 'F32', dst, count);
    }
    done += slot.byteLength;
    opts.onProgress?.(done, total);
  }
  return [...files].map(([path, data]) => ({ path, data }));
}

function missingHint(name: string): string | undefined {
  return name === 'lm_head.weight' ? 'If the model ties its output layer to the embeddings, config.json should say "tie_word_embeddings": true' : undefined;
}

/** A WeightSource reading a checkpoint's tensors (F32, F16 or BF16), checking each shape against the config. */
export function checkpointWeights(ck: Checkpoint): WeightGetter {
  return async (name, shape) => {
    const ref = ck.tensors.get(name);
    if (!ref) throw new ChatvecError('a weight the preview needs is missing', { code: 'preview-missing-tensor', file: ck.label, tensor: name, expected: `shape [${shape.join(', ')}] as config.json implies`, found: 'no such tensor', hint: missingHint(name) });
    if (ref.shape.length !== shape.length || ref.shape.some((d, i) => d !== shape[i])) {
      throw new ChatvecError('a weight has a shape config.json does not imply', { code: 'preview-tensor-shape', file: `${ck.label}/${ref.file}`, tensor: name, expected: `[${shape.join(', ')}]`, found: `[${ref.shape.join(', ')}]` });
    }
    if (!isFloatDtype(ref.dtype)) throw new ChatvecError('the preview reads float weights only', { code: 'preview-tensor-dtype', file: `${ck.label}/${ref.file}`, tensor: name, expected: 'F32, F16 or BF16', found: ref.dtype });
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = await ref.source.read(ref.offset, ref.byteLength, alignedBytes(ref.byteLength));
    const out = new Float32Array(count);
    decodeToF32(bytes, ref.dtype, out, count);
    return out;
  };
}

/** A fresh buffer (offset 0, so any typed view of it is aligned). */
function alignedBytes(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}
