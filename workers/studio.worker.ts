/// <reference types="vite/client" />
/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import { Studio, type MergeTuning, type PendingMerge, type StudioLibraryEntry } from './studio-api.ts';
import type { MergeProgressInfo, SourceSpec, StatsProgressInfo, StudioWorkerContract } from './contract.ts';
import type { BackendChoice } from './contract.ts';
import type { Recipe } from '../src/core/recipe.ts';

const studio = new Studio(new URL(`${import.meta.env.BASE_URL}demo/`, self.location.href).href);

/** Run a merge, resume or diagnostics pass, then free the page's progress callback (a comlink proxy holds a MessagePort open). */
async function withProgress<T, P = MergeProgressInfo>(onProgress: (p: P) => void, run: (onProgress: (p: P) => void) => Promise<T>): Promise<T> {
  try {
    return await run(onProgress);
  } finally {
    (onProgress as Partial<Comlink.Remote<unknown>>)[Comlink.releaseProxy]?.();
  }
}

/** The contract, with the studio's richer answers (SHA-256 sums, how far an interrupted merge got). */
interface StudioApi extends StudioWorkerContract {
  merge(recipe: Recipe, name: string, onProgress: (p: MergeProgressInfo) => void): Promise<StudioLibraryEntry>;
  resume(id: string, onProgress: (p: MergeProgressInfo) => void): Promise<StudioLibraryEntry>;
  pendingMerges(): Promise<PendingMerge[]>;
  library(): Promise<StudioLibraryEntry[]>;
}

/** What the page can ask of the studio worker. */
const api = {
  loadSource: (spec: SourceSpec) => studio.loadSource(spec),
  planRecipe: (recipe: Recipe) => studio.planRecipe(recipe),
  merge: (recipe: Recipe, name: string, onProgress: (p: MergeProgressInfo) => void) => withProgress(onProgress, (p) => studio.merge(recipe, name, p)),
  cancel: async () => studio.cancel(),
  pendingMerges: () => studio.pendingMerges(),
  resume: (id: string, onProgress: (p: MergeProgressInfo) => void) => withProgress(onProgress, (p) => studio.resume(id, p)),
  library: () => studio.listLibrary(),
  deleteModel: (id: string) => studio.deleteModel(id),
  storage: () => studio.storage(),
  persist: () => studio.persist(),
  cacheEntries: () => studio.cacheEntries(),
  evictCache: (key: string) => studio.evictCache(key),
  sha256: (id: string, file: string) => studio.sha256(id, file),
  stats: (recipe: Recipe, vector: number, onProgress: (p: StatsProgressInfo) => void) => withProgress(onProgress, (p) => studio.stats(recipe, vector, p)),
  cachedStats: (recipe: Recipe, vector: number) => studio.cachedStats(recipe, vector),
  cancelStats: async () => studio.cancelStats(),
  /** Test and benchmark knobs: chunk size and resume-point spacing of merges (see src/ui/INTEGRATION.md). */
  tune: async (tuning: MergeTuning) => studio.tune(tuning),
  setBackend: async (choice: BackendChoice) => studio.setBackend(choice),
  /** Serve the loaded models' bytes on `port` (the chat preview worker reads the recipe's models through it). */
  connectPreview: async (port: MessagePort) => Comlink.expose(studio.sourceReader(), port),
} satisfies StudioApi & Record<string, unknown>;
export type StudioWorkerApi = typeof api;

Comlink.expose(api);
