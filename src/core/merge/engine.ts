import { dtypeSize, isFloatDtype, type FloatDtype } from '../dtype.ts';
import { CancelledError, ChatvecError } from '../errors.ts';
import type { MergePlan, PlanEntry } from '../plan.ts';
import { elementCount, readSafetensorsHeader } from '../safetensors/header.ts';
import type { GpuDevice } from '../../gpu/device.ts';
import type { SelectedBackend } from '../../gpu/open-merge-backend.ts';
import { MergeKernel, Throughput, type BackendChoice, type BackendReport, type MergeBackend, type TermBytes } from './kernel.ts';
import { loadManifest, MANIFEST_FILE, planFingerprint, saveManifest, type ResumeManifest } from './manifest.ts';
import { writeFileAtomic, type OutputFolder, type OutputWriter } from './output-folder.ts';
import { layoutShards, shardIndexJson, type ShardLayout } from './shards.ts';

export interface MergeProgress {
  bytesDone: number;
  bytesTotal: number;
  tensor: string;
  file: string;
  elapsedMs: number;
  /** Throughput of this run (resumed bytes not counted). */
  bytesPerSecond: number;
  etaSeconds: number | null;
}

export interface MergeOptions {
  shardSize: number;
  /** Continue an interrupted merge in this folder. */
  resume?: boolean;
  /** Write into a non-empty folder (same-named files are replaced when the merge completes). */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: MergeProgress) => void;
  /** Elements per chunk (default 2 Mi): bounds memory, independent of model size. */
  chunkElements?: number;
  /** Record a resume point at least every this many bytes (default 256 MB). */
  checkpointBytes?: number;
  /** Use the WebAssembly SIMD kernels where they apply (default true; false forces the plain JS path). */
  simd?: boolean;
  /**
   * Where the arithmetic runs (default `cpu`): `gpu` is WebGPU (an error when there is no usable
   * adapter; a lost device hands the rest of the merge to the CPU), `auto` times both on the first
   * chunks and keeps the faster. Every backend writes the same bytes.
   */
  backend?: BackendChoice;
  /** Where `gpu`/`auto` look for an adapter (default navigator.gpu, or the `webgpu` package in Node); null: nowhere. */
  gpu?: GPU | null;
  /** A WebGPU device to use instead of opening one (it is not destroyed at the end). */
  gpuDevice?: GpuDevice;
  /**
   * Benchmark baseline: every read and write happens exactly as in the merge, but the arithmetic is
   * replaced by a copy of cp's bytes. The output is NOT a merge.
   */
  ioOnly?: boolean;
  /** Writes the side files (config, tokenizer, model card) once every shard is in place. */
  finalize?: (out: OutputFolder) => Promise<void>;
}

export interface MergeResult {
  files: { name: string; size: number }[];
  bytesTotal: number;
  resumedBytes: number;
  elapsedMs: number;
  /** The backend that did the arithmetic and its throughput. */
  backend: BackendReport;
}

interface Job {
  entry: PlanEntry;
  start: number;
  end: number;
  position: number;
}

/** Stream a planned merge into `out`: headers first, then data in bounded chunks, with reads, compute and writes overlapped. */
export async function runMerge(plan: MergePlan, out: OutputFolder, opts: MergeOptions): Promise<MergeResult> {
  const started = Date.now();
  const chunkElements = opts.chunkElements ?? 2 * 1024 * 1024;
  const chunkBytes = chunkElements * 4;
  const shards = layoutShards(plan.entries, opts.shardSize);
  const fingerprint = await planFingerprint(plan, opts.shardSize);
  const manifest = await prepareFolder(out, shards, fingerprint, opts);
  await verifyNonFloat(plan, opts.signal);

  const total = plan.totalOutputBytes;
  const dataDone = (m: ResumeManifest) => m.shards.reduce((a, s, i) => a + (s.done ? s.dataBytes : i === m.current.shard ? Math.max(0, m.current.bytes - shards[i].header.bytes.length) : 0), 0);
  const resumedBytes = dataDone(manifest);
  let bytesDone = resumedBytes;
  let lastReport = 0;
  const report = (tensor: string, file: string, force = false) => {
    const now = Date.now();
    if (!opts.onProgress || (!force && now - lastReport < 100)) return;
    lastReport = now;
    const elapsedMs = now - started;
    const rate = elapsedMs > 0 ? ((bytesDone - resumedBytes) / elapsedMs) * 1000 : 0;
    opts.onProgress({ bytesDone, bytesTotal: total, tensor, file, elapsedMs, bytesPerSecond: rate, etaSeconds: rate > 0 ? (total - bytesDone) / rate : null });
  };

  // Two sets of input buffers (one being read while the other is computed) and two output buffers.
  const slots = 1 + 2 * Math.max(0, ...plan.entries.map((e) => e.terms.length));
  const kernel = new MergeKernel(chunkElements, (2 * slots + 2) * (chunkBytes + 128), { wasm: opts.simd });
  const sets = [new BufferSet(kernel, slots, chunkBytes), new BufferSet(kernel, slots, chunkBytes)];
  const outBufs = [kernel.alloc(chunkBytes), kernel.alloc(chunkBytes)];
  const checkpointBytes = opts.checkpointBytes ?? 256 * 1024 * 1024;
  const backend = await openBackend(kernel, opts);
  try {
    for (let si = 0; si < shards.length; si++) {
      const shard = shards[si];
      if (manifest.shards[si].done) continue;
      const partial = `${shard.file}.partial`;
      const resumeAt = manifest.current.shard === si ? manifest.current.bytes : 0;
      const have = resumeAt > 0 ? await out.size(partial) : null;
      const startPos = have !== null && have >= resumeAt ? resumeAt : 0;
      const writer = await out.openWriter(partial, startPos);
      let closed = false;
      try {
        if (startPos === 0) await writer.write(shard.header.bytes, 0);
        let sinceCheckpoint = 0;
        const checkpoint = async (pos: number) => {
          await writer.sync();
          manifest.current = { shard: si, bytes: pos };
          await saveManifest(out, manifest);
          sinceCheckpoint = 0;
        };
        const jobs = [...shardJobs(shard, Math.max(startPos, shard.header.bytes.length), chunkBytes)];
        let pendingRead = jobs.length ? readJob(jobs[0], sets[0]) : null;
        let pendingWrite: Promise<void> | null = null;
        let pendingJob: Job | null = null;
        for (let k = 0; k < jobs.length; k++) {
          const job = jobs[k];
          const data = await pendingRead!;
          pendingRead = k + 1 < jobs.length ? readJob(jobs[k + 1], sets[(k + 1) % 2]) : null;
          // The read may fail before it is awaited (while a write or checkpoint is awaited): not unhandled, it is rethrown at its await.
          pendingRead?.catch(() => undefined);
          const outLen = (job.end - job.start) * dtypeSize(job.entry.outDtype);
          const outBuf = outBufs[k % 2].subarray(0, outLen);
          // The compute of chunk k (asynchronous on a GPU) overlaps the read of k+1 and the write of k−1.
          let computing: Promise<void> | null = null;
          if (opts.ioOnly) outBuf.set(data.cp.subarray(0, outLen));
          else {
            computing = computeJob(job, data, outBuf, backend);
            computing.catch(() => undefined); // awaited below, after the previous write
          }
          if (pendingWrite) {
            await pendingWrite;
            bytesDone += pendingLen(pendingJob!);
            sinceCheckpoint += pendingLen(pendingJob!);
            if (sinceCheckpoint >= checkpointBytes) await checkpoint(pendingJob!.position + pendingLen(pendingJob!));
            report(pendingJob!.entry.name, shard.file);
          }
          if (computing) await computing;
          if (opts.signal?.aborted) {
            await pendingRead?.catch(() => undefined);
            if (pendingJob) await checkpoint(pendingJob.position + pendingLen(pendingJob));
            throw new CancelledError();
          }
          pendingWrite = writer.write(outBuf, job.position);
          pendingJob = job;
        }
        if (pendingWrite) {
          await pendingWrite;
          bytesDone += pendingLen(pendingJob!);
        }
        await writer.sync();
        await writer.close();
        closed = true;
        await verifyShard(out, partial, shard);
        await out.rename(partial, shard.file);
        manifest.shards[si].done = true;
        manifest.current = { shard: si + 1, bytes: 0 };
        await saveManifest(out, manifest);
        report(shard.entries.at(-1)?.name ?? '', shard.file, true);
      } finally {
        if (!closed) await writer.close().catch(() => undefined);
      }
    }

  } finally {
    backend.dispose();
  }

  if (shards.length > 1) await writeFileAtomic(out, 'model.safetensors.index.json', shardIndexJson(shards));
  await opts.finalize?.(out);
  await out.remove(MANIFEST_FILE);
  const files = [];
  for (const name of await out.list()) files.push({ name, size: (await out.size(name)) ?? 0 });
  return { files, bytesTotal: total, resumedBytes, elapsedMs: Date.now() - started, backend: backend.report() };
}

/** The CPU kernel itself, or (for `gpu`/`auto`) the WebGPU side, loaded only when asked for. */
async function openBackend(kernel: MergeKernel, opts: MergeOptions): Promise<SelectedBackend> {
  const choice = opts.backend ?? 'cpu';
  if (choice === 'cpu') return new CpuBackend(kernel);
  const { openMergeBackend } = await import('../../gpu/open-merge-backend.ts');
  return openMergeBackend({ choice, cpu: kernel, gpu: opts.gpu, device: opts.gpuDevice });
}

/** The CPU kernel with a throughput meter. */
class CpuBackend implements SelectedBackend {
  readonly name = 'cpu' as const;
  private readonly rate = new Throughput();
  constructor(private readonly kernel: MergeKernel) {}
  get detail(): string {
    return this.kernel.detail;
  }
  merge(count: number, cp: Uint8Array, cpDtype: FloatDtype, terms: TermBytes[], outDtype: FloatDtype, out: Uint8Array): void {
    const t0 = performance.now();
    this.kernel.merge(count, cp, cpDtype, terms, outDtype, out);
    this.rate.add(count * dtypeSize(outDtype), performance.now() - t0);
  }
  convert(count: number, src: Uint8Array, srcDtype: FloatDtype, outDtype: FloatDtype, out: Uint8Array): void {
    this.kernel.convert(count, src, srcDtype, outDtype, out);
  }
  report(): BackendReport {
    return { name: 'cpu', detail: this.detail, bytesPerSecond: this.rate.bytesPerSecond };
  }
  dispose(): void {}
}

const pendingLen = (j: Job) => (j.end - j.start) * dtypeSize(j.entry.outDtype);

/** Chunks of every tensor in a shard from file position `from` on (a resume point is always a chunk end). */
function* shardJobs(shard: ShardLayout, from: number, chunkBytes: number): Generator<Job> {
  for (let i = 0; i < shard.entries.length; i++) {
    const entry = shard.entries[i];
    const tensorStart = shard.header.offsets[i];
    const outSize = dtypeSize(entry.outDtype);
    const n = elementCount(entry.shape);
    if (tensorStart + n * outSize <= from) continue;
    let start = Math.max(0, (from - tensorStart) / outSize);
    if (!Number.isInteger(start)) throw new Error(`internal: resume point ${from} is inside an element of ${entry.name}`);
    const per = Math.max(1, Math.floor(chunkBytes / Math.max(4, outSize, dtypeSize(entry.cp.dtype))));
    while (start < n) {
      const end = Math.min(n, start + per);
      yield { entry, start, end, position: tensorStart + start * outSize };
      start = end;
    }
  }
}

/** One buffer per input slot (cp, then base and chat of each term), so that reads land in place. */
class BufferSet {
  private readonly bufs: Uint8Array[];
  constructor(kernel: MergeKernel, slots: number, bytes: number) {
    this.bufs = Array.from({ length: slots }, () => kernel.alloc(bytes));
  }
  get(slot: number, length: number): Uint8Array {
    return this.bufs[slot].subarray(0, length);
  }
}

interface JobData {
  cp: Uint8Array;
  mergedCount: number;
  terms: TermBytes[];
  patches: { at: number; count: number; bytes: Uint8Array; dtype: FloatDtype }[];
}

async function readJob(job: Job, set: BufferSet): Promise<JobData> {
  const { entry, start, end } = job;
  const cpSize = dtypeSize(entry.cp.dtype);
  const cp = entry.cp.source.read(entry.cp.offset + start * cpSize, (end - start) * cpSize, set.get(0, (end - start) * cpSize));
  let mergedCount = 0;
  const termReads: Promise<TermBytes>[] = [];
  if (entry.action === 'merge') {
    const cols = entry.shape.slice(1).reduce((a, b) => a * b, 1);
    const mergedEnd = entry.mergeRows !== undefined ? entry.mergeRows * cols : elementCount(entry.shape);
    mergedCount = Math.max(0, Math.min(end, mergedEnd) - start);
    if (mergedCount > 0) {
      entry.terms.forEach((t, i) => {
        const bs = dtypeSize(t.base.dtype), cs = dtypeSize(t.chat.dtype);
        termReads.push(
          Promise.all([
            t.base.source.read(t.base.offset + start * bs, mergedCount * bs, set.get(1 + 2 * i, mergedCount * bs)),
            t.chat.source.read(t.chat.offset + start * cs, mergedCount * cs, set.get(2 + 2 * i, mergedCount * cs)),
          ]).then(([base, chat]) => ({ base, chat, baseDtype: t.base.dtype as FloatDtype, chatDtype: t.chat.dtype as FloatDtype, alpha: t.alpha })),
        );
      });
    }
  }
  const patches: JobData['patches'] = [];
  const cols = entry.shape.slice(1).reduce((a, b) => a * b, 1);
  const patchReads = entry.rowPatches.map(async (p) => {
    const rowStart = p.row * cols;
    const lo = Math.max(start, rowStart), hi = Math.min(end, rowStart + cols);
    if (lo >= hi) return;
    const size = dtypeSize(p.source.dtype);
    const bytes = await p.source.source.read(p.source.offset + (p.sourceRow * cols + (lo - rowStart)) * size, (hi - lo) * size);
    patches.push({ at: lo - start, count: hi - lo, bytes, dtype: p.source.dtype as FloatDtype });
  });
  const [cpBytes, terms] = await Promise.all([cp, Promise.all(termReads), Promise.all(patchReads)]);
  return { cp: cpBytes, mergedCount, terms, patches };
}

async function computeJob(job: Job, d: JobData, out: Uint8Array, k: MergeBackend): Promise<void> {
  const { entry } = job;
  const count = job.end - job.start;
  const outDtype = entry.outDtype;
  if (!isFloatDtype(outDtype) || !isFloatDtype(entry.cp.dtype)) {
    out.set(d.cp);
    return;
  }
  const cpDtype = entry.cp.dtype;
  const cpSize = dtypeSize(cpDtype), outSize = dtypeSize(outDtype);
  if (d.mergedCount > 0) await k.merge(d.mergedCount, d.cp, cpDtype, d.terms, outDtype, out);
  if (d.mergedCount < count) {
    const rest = count - d.mergedCount;
    await k.convert(rest, d.cp.subarray(d.mergedCount * cpSize), cpDtype, outDtype, out.subarray(d.mergedCount * outSize, count * outSize));
  }
  for (const p of d.patches) {
    const aligned = new Uint8Array(p.bytes); // own buffer: typed views need alignment
    await k.convert(p.count, aligned, p.dtype, outDtype, out.subarray(p.at * outSize, (p.at + p.count) * outSize));
  }
}

async function prepareFolder(out: OutputFolder, shards: ShardLayout[], fingerprint: string, opts: MergeOptions): Promise<ResumeManifest> {
  const files = await out.list();
  const existing = await loadManifest(out);
  const fresh: ResumeManifest = { chatvec_merge: 1, fingerprint, shards: shards.map((s) => ({ file: s.file, dataBytes: s.header.fileSize - s.header.bytes.length, done: false })), current: { shard: 0, bytes: 0 } };
  if (opts.resume) {
    if (!existing) {
      throw new ChatvecError('there is no interrupted merge to resume', { code: 'nothing-to-resume', file: out.label, expected: `a ${MANIFEST_FILE} left by an interrupted merge`, found: files.length ? 'a folder without one' : 'an empty folder', hint: 'Run the merge without --resume' });
    }
    if (existing.fingerprint !== fingerprint) {
      throw new ChatvecError('the interrupted merge in this folder used other inputs or another recipe', { code: 'resume-mismatch', file: out.label, hint: 'Resume with exactly the same inputs and options, or start over with --force (the partial files are replaced)' });
    }
    // A shard counts as done only if its file is really there, whole.
    for (let i = 0; i < shards.length; i++) {
      if (existing.shards[i].done && (await out.size(shards[i].file)) !== shards[i].header.fileSize) {
        existing.shards[i].done = false;
        if (existing.current.shard > i) existing.current = { shard: i, bytes: 0 };
      }
    }
    return existing;
  }
  if (existing && !opts.force) {
    throw new ChatvecError('the output folder holds an interrupted merge', { code: 'interrupted-merge', file: out.label, hint: 'Pass --resume to continue it, or --force to start over' });
  }
  const others = files.filter((f) => f !== MANIFEST_FILE);
  if (others.length && !opts.force) {
    throw new ChatvecError('the output folder is not empty', { code: 'output-not-empty', file: out.label, expected: 'an empty or new folder', found: `${others.length} file(s): ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}`, hint: 'Choose another folder, or pass --force to write into it (files of the same names are replaced at the end)' });
  }
  await saveManifest(out, fresh);
  return fresh;
}

/** Re-read a finished shard's header and size before it gets its final name. */
async function verifyShard(out: OutputFolder, name: string, shard: ShardLayout): Promise<void> {
  const src = await out.open(name);
  try {
    const h = await readSafetensorsHeader(src);
    const ok = src.size === shard.header.fileSize && h.tensors.length === shard.entries.length && h.tensors.every((t, i) => {
      const e = shard.entries[i];
      return t.name === e.name && t.dtype === e.outDtype && t.offset === shard.header.offsets[i] && t.byteLength === e.outBytes;
    });
    if (!ok) throw new ChatvecError('written shard does not match its plan', { code: 'shard-verify-failed', file: `${out.label}/${name}`, expected: `${shard.header.fileSize} bytes with ${shard.entries.length} tensors`, found: `${src.size} bytes with ${h.tensors.length} tensors`, hint: 'The disk may be full or the file was changed while writing; run the merge again with --force' });
  } finally {
    await src.close?.();
  }
}

/** Non-float tensors are copied from cp; that is only right when base and chat hold the same bytes. */
async function verifyNonFloat(plan: MergePlan, signal?: AbortSignal): Promise<void> {
  const step = 8 * 1024 * 1024;
  for (const e of plan.entries) {
    for (const [b, c] of e.nonFloatCheck ?? []) {
      for (let off = 0; off < b.byteLength; off += step) {
        if (signal?.aborted) throw new CancelledError();
        const len = Math.min(step, b.byteLength - off);
        const [x, y] = await Promise.all([b.source.read(b.offset + off, len), c.source.read(c.offset + off, len)]);
        for (let i = 0; i < len; i++) {
          if (x[i] !== y[i]) throw new ChatvecError('non-float tensor differs between base and chat, so the chat vector cannot be applied to it', { code: 'non-float-differs', tensor: e.name, file: `${b.file} vs ${c.file}`, expected: 'identical bytes in base and chat', found: `a difference at byte ${off + i}`, hint: `Keep it from cp with --skip '${e.name}'` });
        }
      }
    }
  }
}
