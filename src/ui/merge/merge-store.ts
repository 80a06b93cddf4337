/**
 * The merge panel's state: the output name, the running merge's progress, its outcome, and interrupted merges
 * found in the library. The work happens in the studio worker; this only asks and shows.
 */
import * as Comlink from 'comlink';
import type { Remote } from 'comlink';
import { create } from 'zustand';
import type { Recipe } from '../../core/recipe.ts';
import type { MergeProgressInfo, SourceSpec } from '../../../workers/contract.ts';
import type { MergeTuning, PendingMerge, StudioLibraryEntry } from '../../../workers/studio-api.ts';
import type { StudioWorkerApi } from '../../../workers/studio.worker.ts';
import { errorMessage } from '../store.ts';

type Worker = Remote<StudioWorkerApi>;

/** Fired on `window` whenever the library's contents change (a merge finished, a model was deleted or discarded). */
export const LIBRARY_CHANGED = 'chatvec:library-changed';
export const announceLibraryChange = () => window.dispatchEvent(new Event(LIBRARY_CHANGED));

export interface MergeState {
  /** What the name field holds; null until the person types, then the suggested name is not used. */
  nameText: string | null;
  status: 'idle' | 'merging' | 'cancelling';
  /** Which merge runs: a new one (by name) or a resumed one. */
  runningName: string | null;
  progress: MergeProgressInfo | null;
  /** A message for a person; never a stack trace. */
  error: string | null;
  /** What the last merge ended with, for the line under the button. */
  outcome: { kind: 'done'; entry: StudioLibraryEntry } | { kind: 'cancelled'; name: string } | null;
  pending: PendingMerge[];
  /** Per pending merge: a message about what it still needs, or why resuming failed. */
  pendingErrors: Record<string, string>;
  setName(text: string): void;
  refreshPending(worker: Worker): Promise<void>;
  merge(worker: Worker, recipe: Recipe, name: string): Promise<void>;
  resume(worker: Worker, id: string): Promise<void>;
  discard(worker: Worker, id: string): Promise<void>;
  cancel(worker: Worker): Promise<void>;
  /** Give the worker a local folder that an interrupted merge needs again. */
  provide(worker: Worker, id: string, spec: SourceSpec): Promise<void>;
}

export const useMerge = create<MergeState>()((set, get) => {
  /** Run one merge or resume, showing progress; a cancel leaves it resumable and is not an error. */
  const run = async (worker: Worker, name: string, start: (onProgress: (p: MergeProgressInfo) => void) => Promise<StudioLibraryEntry>, pendingId?: string) => {
    if (get().status !== 'idle') return;
    set({ status: 'merging', runningName: name, progress: null, error: null, outcome: null });
    try {
      const tuning = tuningFromUrl(location.search);
      if (tuning) await worker.tune(tuning);
      const entry = await start(Comlink.proxy((p: MergeProgressInfo) => set({ progress: p })));
      set({ outcome: { kind: 'done', entry } });
      announceLibraryChange();
    } catch (e) {
      if ((e as { name?: string }).name === 'CancelledError') set({ outcome: { kind: 'cancelled', name } });
      // A failed resume is explained on the banner of the merge it belongs to.
      else if (pendingId) set((s) => ({ pendingErrors: { ...s.pendingErrors, [pendingId]: errorMessage(e) } }));
      else set({ error: errorMessage(e) });
    } finally {
      set({ status: 'idle', runningName: null, progress: null });
      await get().refreshPending(worker);
    }
  };

  return {
    nameText: null,
    status: 'idle',
    runningName: null,
    progress: null,
    error: null,
    outcome: null,
    pending: [],
    pendingErrors: {},

    setName(text) {
      set({ nameText: text });
    },

    async refreshPending(worker) {
      try {
        set({ pending: await worker.pendingMerges() });
      } catch (e) {
        set({ error: `Interrupted merges could not be looked up: ${errorMessage(e)}` });
      }
    },

    merge: (worker, recipe, name) => run(worker, name, (onProgress) => worker.merge(recipe, name, onProgress)),

    async resume(worker, id) {
      const pending = get().pending.find((p) => p.entry.id === id);
      if (!pending) return;
      set((s) => ({ pendingErrors: { ...s.pendingErrors, [id]: '' } }));
      await run(worker, pending.entry.name, (onProgress) => worker.resume(id, onProgress), id);
    },

    async discard(worker, id) {
      try {
        await worker.deleteModel(id);
        announceLibraryChange();
      } catch (e) {
        set({ error: `The interrupted merge could not be discarded: ${errorMessage(e)}` });
      }
      await get().refreshPending(worker);
    },

    async cancel(worker) {
      if (get().status !== 'merging') return;
      set({ status: 'cancelling' });
      await worker.cancel();
    },

    async provide(worker, id, spec) {
      try {
        await worker.loadSource(spec);
        set((s) => ({ pendingErrors: { ...s.pendingErrors, [id]: '' } }));
      } catch (e) {
        set((s) => ({ pendingErrors: { ...s.pendingErrors, [id]: `That folder could not be loaded: ${errorMessage(e)}` } }));
      }
      await get().refreshPending(worker);
    },
  };
});

/** The merge knobs a test or benchmark put in the page's URL (`?chunkElements=4096&checkpointBytes=1`, `?ioOnly=1`), or null. */
export function tuningFromUrl(search: string): MergeTuning | null {
  const params = new URLSearchParams(search);
  const tuning: MergeTuning = {};
  for (const key of ['chunkElements', 'checkpointBytes'] as const) {
    const v = params.get(key);
    if (v !== null) tuning[key] = Number(v);
  }
  // `?ioOnly=0` switches the baseline off again in the same page (the worker keeps its last tuning).
  const ioOnly = params.get('ioOnly');
  if (ioOnly !== null) tuning.ioOnly = ioOnly === '1';
  return Object.keys(tuning).length ? tuning : null;
}

/** A name for the output from the recipe's cp model, e.g. `my-cp-chat-vector`. */
export function suggestedName(recipe: Recipe | null): string {
  if (!recipe) return '';
  const cp = recipe.cp.replace(/@.*$/, '').split('/').filter(Boolean).pop() ?? 'model';
  return `${cp}-chat-vector`;
}
