/**
 * The diagnostics of one chat vector, computed on demand by the studio worker and kept here, so re-renders and
 * other sections (the α curve's ‖τ‖ overlay) use them without reading the weights again.
 */
import { proxy } from 'comlink';
import { useMemo } from 'react';
import { create } from 'zustand';
import type { Recipe } from '../../core/recipe.ts';
import type { ChatVectorStats } from '../../core/stats/stats-report.ts';
import type { LoadedSource, StatsProgressInfo } from '../../../workers/contract.ts';
import { errorMessage, getWorker, useStudio, type StudioState } from '../store.ts';

/** The very models a result was measured on: a folder loaded again is a new LoadedSource, so identity says "same model". */
export interface MeasuredInputs {
  /** The chat vector's key in the studio store (stable when other vectors are removed). */
  vectorKey: number;
  cp: LoadedSource;
  base: LoadedSource;
  chat: LoadedSource;
}

export interface DiagnosticsResult {
  stats: ChatVectorStats;
  inputs: MeasuredInputs;
  /** The recipe each tensor's action and reason were planned with. */
  recipe: Recipe;
}

export interface DiagnosticsState {
  /** A pass in flight, for these inputs. */
  running: MeasuredInputs | null;
  cancelling: boolean;
  progress: StatsProgressInfo | null;
  /** How the last pass ended when it did not give a result. */
  outcome: { kind: 'failed'; message: string } | { kind: 'cancelled' } | null;
  /** The last result (one at a time, as the worker keeps one). */
  result: DiagnosticsResult | null;
  compute(vectorKey: number): Promise<void>;
  cancel(): Promise<void>;
}

/** The models the chat vector with `vectorKey` uses now; null while one of its slots (or cp) is empty. */
export function currentInputs(s: Pick<StudioState, 'cp' | 'vectors'>, vectorKey: number): MeasuredInputs | null {
  const v = s.vectors.find((x) => x.key === vectorKey);
  if (!v || !s.cp.loaded || !v.base.loaded || !v.chat.loaded) return null;
  return { vectorKey, cp: s.cp.loaded, base: v.base.loaded, chat: v.chat.loaded };
}

export function sameInputs(a: MeasuredInputs | null, b: MeasuredInputs | null): boolean {
  return !!a && !!b && a.vectorKey === b.vectorKey && a.cp === b.cp && a.base === b.base && a.chat === b.chat;
}

export const useDiagnostics = create<DiagnosticsState>()((set, get) => ({
  running: null,
  cancelling: false,
  progress: null,
  outcome: null,
  result: null,

  async compute(vectorKey) {
    const s = useStudio.getState();
    const inputs = currentInputs(s, vectorKey);
    const index = s.vectors.findIndex((v) => v.key === vectorKey);
    const recipe = s.recipe;
    if (!inputs || !recipe || get().running) return;
    set({ running: inputs, cancelling: false, progress: null, outcome: null });
    try {
      const stats = await getWorker().stats(recipe, index, proxy((p: StatsProgressInfo) => set({ progress: p })));
      set({ result: { stats, inputs, recipe } });
      void relabel();
    } catch (e) {
      if ((e as { name?: string }).name === 'CancelledError') set({ outcome: { kind: 'cancelled' } });
      else set({ outcome: { kind: 'failed', message: `The diagnostics could not be computed: ${errorMessage(e)}` } });
    } finally {
      set({ running: null, cancelling: false, progress: null });
    }
  },

  async cancel() {
    if (!get().running) return;
    set({ cancelling: true });
    await getWorker().cancelStats();
  },
}));

/**
 * Each tensor's action and reason follow the recipe (skip patterns, embeddings policy, α filters); the numbers do
 * not. When the recipe changes, the worker re-plans them over its kept result, reading no weights.
 */
async function relabel(): Promise<void> {
  const { result } = useDiagnostics.getState();
  const studio = useStudio.getState();
  const recipe = studio.recipe;
  if (!result || !recipe || result.recipe === recipe || !sameInputs(result.inputs, currentInputs(studio, result.inputs.vectorKey))) return;
  const index = studio.vectors.findIndex((v) => v.key === result.inputs.vectorKey);
  const stats = await getWorker()
    .cachedStats(recipe, index)
    .catch(() => null);
  // Only if nothing newer came meanwhile: another result, or another recipe (its own relabel follows).
  if (stats && useDiagnostics.getState().result === result && useStudio.getState().recipe === recipe) useDiagnostics.setState({ result: { ...result, stats, recipe } });
}

useStudio.subscribe((s, prev) => {
  if (s.recipe !== prev.recipe) void relabel();
});

/** `currentInputs` as a hook (one object while the models stay the same). */
export function useCurrentInputs(vectorKey: number): MeasuredInputs | null {
  const cp = useStudio((s) => s.cp.loaded);
  const base = useStudio((s) => s.vectors.find((v) => v.key === vectorKey)?.base.loaded ?? null);
  const chat = useStudio((s) => s.vectors.find((v) => v.key === vectorKey)?.chat.loaded ?? null);
  return useMemo(() => (cp && base && chat ? { vectorKey, cp, base, chat } : null), [vectorKey, cp, base, chat]);
}

/** The kept result if it was measured on the models the chat vector with `vectorKey` holds now. */
export function useCurrentResult(vectorKey: number): DiagnosticsResult | null {
  const result = useDiagnostics((s) => s.result);
  const now = useCurrentInputs(vectorKey);
  return result && sameInputs(result.inputs, now) ? result : null;
}

/** ‖τ‖ per layer 0 … numLayers − 1 of the chat vector with `vectorKey` (null for a layer without tensors), once computed. */
export function useLayerTauNorms(vectorKey: number, numLayers: number): (number | null)[] | null {
  const stats = useCurrentResult(vectorKey)?.stats;
  const layers = stats?.layers;
  return useMemo(() => {
    if (!layers) return null;
    const byLayer = new Map(layers.map((l) => [l.layer, l.tauNorm]));
    return Array.from({ length: numLayers }, (_, i) => byLayer.get(i) ?? null);
  }, [layers, numLayers]);
}
