import type { TensorRef } from '../checkpoint.ts';
import { decodeToF32, dtypeSize, viewAs, type FloatDtype } from '../dtype.ts';
import { CancelledError, ChatvecError } from '../errors.ts';
import type { MergeProgress } from '../merge/engine.ts';
import { planMerge, type MergeInputs } from '../plan.ts';
import { DEFAULT_SHARD_SIZE, type Recipe } from '../recipe.ts';
import { CpuStatsAccumulator, type StatsAccumulator, type StatsSums } from './stats-accumulator.ts';
import { buildStatsReport, type ChatVectorStats } from './stats-report.ts';
import { statsTargets, type StatsTarget } from './stats-targets.ts';

/** Bytes of base, chat and cp read so far (the same shape as the merge's progress). */
export type StatsProgress = MergeProgress;

export interface ChatVectorStatsParams {
  /** The opened models (`openInputs`). */
  inputs: MergeInputs;
  /** Supplies each tensor's action and reason (skip globs, embeddings policy); default: every vector at α = 1, nothing skipped. */
  recipe?: Recipe;
  /** Which chat vector, 0-based (default 0). */
  vector?: number;
  signal?: AbortSignal;
  onProgress?: (p: StatsProgress) => void;
  /** Elements per read (default 1 Mi): memory is 36 bytes per element (36 MiB by default), whatever the model size. */
  chunkElements?: number;
  /** The reduction (default the CPU reference, `CpuStatsAccumulator`); a GPU one plugs in here. */
  accumulator?: StatsAccumulator;
}

export const DEFAULT_STATS_CHUNK = 1024 * 1024;

interface Chunk {
  target: StatsTarget;
  start: number;
  count: number;
  /** The tensor's last chunk. */
  last: boolean;
}

type Slot = 'base' | 'chat' | 'cp';
const SLOTS: Slot[] = ['base', 'chat', 'cp'];

/**
 * ‖τ‖, ‖cp − base‖, ‖cp‖, cos(τ, cp − base) and sign agreement of one chat vector, per tensor and
 * aggregated per layer and module type. Tensors are read in bounded chunks, the next chunk's reads in
 * flight while the current one is reduced.
 */
export async function computeChatVectorStats(p: ChatVectorStatsParams): Promise<ChatVectorStats> {
  const { inputs, signal } = p;
  const vector = p.vector ?? 0;
  if (!Number.isInteger(vector) || vector < 0 || vector >= inputs.vectors.length) {
    throw new ChatvecError('no such chat vector', { code: 'bad-vector', expected: `0 to ${inputs.vectors.length - 1}`, found: String(vector) });
  }
  const chunkElements = p.chunkElements ?? DEFAULT_STATS_CHUNK;
  if (!Number.isSafeInteger(chunkElements) || chunkElements < 1) throw new RangeError(`chunkElements must be a positive integer, not ${chunkElements}`);
  // Token rows copied from chat do not change what τ is, and their lookup can fail: leave them out.
  const plan = planMerge(inputs, { ...(p.recipe ?? recipeFor(inputs)), copyTokenRows: [] });
  const targets = statsTargets(inputs, plan, vector);
  const accumulator = p.accumulator ?? new CpuStatsAccumulator();

  const chunks: Chunk[] = [];
  for (const target of targets.compared) {
    let start = 0;
    do {
      const count = Math.min(chunkElements, target.elements - start);
      chunks.push({ target, start, count, last: start + count === target.elements });
      start += count;
    } while (start < target.elements);
  }
  const bytesOf = (c: Chunk) => SLOTS.reduce((a, s) => a + c.count * dtypeSize(c.target[s].dtype), 0);
  const bytesTotal = chunks.reduce((a, c) => a + bytesOf(c), 0);

  // Two sets of read buffers (one filling while the other is reduced) and one set of f32 decodes.
  const bufferSets = [0, 1].map(() => Object.fromEntries(SLOTS.map((s) => [s, new Uint8Array(chunkElements * 4)])) as Record<Slot, Uint8Array>);
  const decoded = Object.fromEntries(SLOTS.map((s) => [s, new Float32Array(chunkElements)])) as Record<Slot, Float32Array>;
  const read = async (c: Chunk, bufs: Record<Slot, Uint8Array>) => {
    const bytes = await Promise.all(SLOTS.map((s) => readElements(c.target[s], c.start, c.count, bufs[s])));
    return Object.fromEntries(SLOTS.map((s, i) => [s, bytes[i]])) as Record<Slot, Uint8Array>;
  };

  const started = Date.now();
  let bytesDone = 0, lastReport = 0;
  const report = (tensor: string, file: string, force = false) => {
    const now = Date.now();
    if (!p.onProgress || (!force && now - lastReport < 100)) return;
    lastReport = now;
    const elapsedMs = now - started;
    const rate = elapsedMs > 0 ? (bytesDone / elapsedMs) * 1000 : 0;
    p.onProgress({ bytesDone, bytesTotal, tensor, file, elapsedMs, bytesPerSecond: rate, etaSeconds: rate > 0 ? (bytesTotal - bytesDone) / rate : null });
  };

  const sums: StatsSums[] = [];
  let pending: Promise<Record<Slot, Uint8Array>> | null = chunks.length ? read(chunks[0], bufferSets[0]) : null;
  try {
    for (let k = 0; k < chunks.length; k++) {
      const c = chunks[k];
      const bytes = await pending!;
      pending = null;
      if (signal?.aborted) throw new CancelledError();
      if (k + 1 < chunks.length) pending = read(chunks[k + 1], bufferSets[(k + 1) % 2]);
      const [base, chat, cp] = SLOTS.map((s) => toF32(bytes[s], c.target[s].dtype as FloatDtype, decoded[s], c.count));
      await accumulator.add(base, chat, cp, c.count);
      if (c.last) sums.push(await accumulator.take());
      bytesDone += bytesOf(c);
      report(c.target.name, c.target.cp.file);
    }
  } finally {
    // A read still in flight must not reject unobserved when an error or a cancel ends the loop.
    await pending?.catch(() => undefined);
  }
  report(chunks.at(-1)?.target.name ?? '', chunks.at(-1)?.target.cp.file ?? '', true);
  return buildStatsReport(targets, sums);
}

function readElements(t: TensorRef, start: number, count: number, into: Uint8Array): Promise<Uint8Array> {
  const size = dtypeSize(t.dtype);
  if (count === 0) return Promise.resolve(into.subarray(0, 0));
  return t.source.read(t.offset + start * size, count * size, into.subarray(0, count * size));
}

/** f32 values of a chunk; f32 data is used in place (the read buffers are aligned). */
function toF32(bytes: Uint8Array, dtype: FloatDtype, out: Float32Array, count: number): Float32Array {
  if (dtype === 'F32') return viewAs(bytes, Float32Array, count);
  decodeToF32(bytes, dtype, out, count);
  return out;
}

/** A recipe for inputs opened without one: each chat vector at α = 1, nothing skipped. */
function recipeFor(inputs: MergeInputs): Recipe {
  return {
    cp: 'cp',
    vectors: inputs.vectors.map((_, i) => ({ base: `base${i + 1}`, chat: `chat${i + 1}`, alpha: 1 })),
    embeddings: 'overlap', skip: [], dtype: 'auto', shardSize: DEFAULT_SHARD_SIZE, copyTokenRows: [],
  };
}
