/**
 * What the studio page may ask of the studio worker (comlink), and the plain data that comes back.
 * Everything here is structured-clone safe: no ByteSource, TensorRef or class instances.
 *
 * Model references inside a recipe are *slot labels* the worker knows: a source is loaded into the
 * worker with `loadSource`, which returns its label (e.g. `demo/cp`, `Qwen/Qwen2.5-0.5B@main`,
 * `local/my-model`, `library/<id>`); the recipe names models by those labels.
 */
import type { CheckpointSummary } from '../src/core/summary.ts';
import type { MergePlan, PlanIssue } from '../src/core/plan.ts';
import type { Recipe } from '../src/core/recipe.ts';
import type { BackendChoice, BackendReport } from '../src/core/merge/kernel.ts';

export type { BackendChoice, BackendReport };
import type { ChatVectorStats } from '../src/core/stats/stats-report.ts';

/** Where a model's files come from. */
export type SourceSpec =
  /** The built-in demo triplet served from /demo/. */
  | { kind: 'demo'; role: 'base' | 'chat' | 'cp' }
  /** Files from <input webkitdirectory> or drag & drop; `paths` are relative to the model folder, same order as `files`. */
  | { kind: 'files'; name: string; files: File[]; paths: string[] }
  /** A folder from showDirectoryPicker (the handle is structured-cloneable and can be stored in IndexedDB). */
  | { kind: 'directory'; handle: FileSystemDirectoryHandle }
  /** A Hugging Face Hub repository (or a mirror at `hubUrl`). The token is kept in worker memory only. */
  | { kind: 'hub'; repo: string; revision?: string; hubUrl: string; accessToken?: string }
  /** A merged model in the OPFS library. */
  | { kind: 'library'; id: string };

/** A source as it may be remembered and shown: no File contents, no token. */
export type PublicSourceSpec =
  | { kind: 'demo'; role: 'base' | 'chat' | 'cp' }
  | { kind: 'files'; name: string }
  | { kind: 'directory'; handle: FileSystemDirectoryHandle }
  | { kind: 'hub'; repo: string; revision?: string; hubUrl: string }
  | { kind: 'library'; id: string };

export interface LoadedSource extends CheckpointSummary {
  /** The reference a recipe uses for this model. */
  ref: string;
  spec: PublicSourceSpec;
  files: string[];
  /** Hub sources: the commit the revision resolved to. */
  commit?: string;
}

/** A merge plan as plain data. */
export interface PlanReport {
  ok: boolean;
  counts: MergePlan['counts'];
  totalOutputBytes: number;
  numLayers: number;
  issues: PlanIssue[];
  /** What the output's side files carry over and from where (chat template, eos token, …). */
  notes: string[];
  tensors: { name: string; action: 'merge' | 'copy'; reason: string; shape: number[]; dtype: string; alphas: number[] }[];
}

export interface MergeProgressInfo {
  phase: 'checking' | 'merging' | 'finishing';
  bytesDone: number;
  bytesTotal: number;
  tensor: string;
  file: string;
  bytesPerSecond: number;
  etaSeconds: number | null;
}

/** Progress of the diagnostics pass: bytes of base, chat and cp read so far. */
export type StatsProgressInfo = Omit<MergeProgressInfo, 'phase'>;

/** A merged model in the OPFS library (folder `library/<id>/`). */
export interface LibraryEntry {
  id: string;
  name: string;
  createdAt: string;
  recipe: Recipe;
  /** Summaries of the inputs as they were when merged (ref, revision/commit, bytes). */
  inputs: { role: string; ref: string; revision?: string; bytes: number; tensors: number }[];
  files: { name: string; size: number }[];
  totalBytes: number;
  status: 'complete' | 'interrupted';
  /** Where the last run's arithmetic ran, and how fast (absent for merges made before this was recorded). */
  backend?: BackendReport;
}

export interface StorageInfo {
  usage: number;
  quota: number;
  persisted: boolean;
}

export interface CacheEntryInfo {
  key: string;
  repo: string;
  commit: string;
  path: string;
  bytes: number;
}

export interface StudioWorkerContract {
  loadSource(spec: SourceSpec): Promise<LoadedSource>;
  planRecipe(recipe: Recipe): Promise<PlanReport>;
  /** Merge into a new library folder; fails before writing if the quota is too small (bytes needed vs available). */
  merge(recipe: Recipe, name: string, onProgress: (p: MergeProgressInfo) => void): Promise<LibraryEntry>;
  cancel(): Promise<void>;
  /** An interrupted merge found in OPFS (after a reload or crash), with the sources it needs. */
  pendingMerges(): Promise<{ entry: LibraryEntry; needs: { ref: string; spec: PublicSourceSpec }[] }[]>;
  resume(id: string, onProgress: (p: MergeProgressInfo) => void): Promise<LibraryEntry>;
  library(): Promise<LibraryEntry[]>;
  deleteModel(id: string): Promise<void>;
  storage(): Promise<StorageInfo>;
  persist(): Promise<boolean>;
  cacheEntries(): Promise<CacheEntryInfo[]>;
  evictCache(key: string): Promise<void>;
  /** SHA-256 (hex) of one library file, streamed. */
  sha256(id: string, file: string): Promise<string>;
  /**
   * Chat-vector diagnostics of `recipe.vectors[vector]` against cp (what `chatvec stats --json` prints); reads every
   * weight of base, chat and cp once. The last result is kept: asked again for the same models, it answers at once.
   */
  stats(recipe: Recipe, vector: number, onProgress: (p: StatsProgressInfo) => void): Promise<ChatVectorStats>;
  /** The kept result when it was measured on these very models, with each tensor's action as `recipe` plans it; else null. Reads no weights. */
  cachedStats(recipe: Recipe, vector: number): Promise<ChatVectorStats | null>;
  /** Stop a running `stats` at the next chunk (it rejects with a CancelledError). */
  cancelStats(): Promise<void>;
}
