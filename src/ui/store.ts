import type { Remote } from 'comlink';
import { create } from 'zustand';
import type { EmbeddingPolicy } from '../core/recipe.ts';
import type { ModelSummary, StudioReport } from '../../workers/studio-api.ts';
import type { StudioWorkerApi } from '../../workers/studio.worker.ts';
import { formatNumber } from './format.ts';

export const ALPHA_MIN = -1;
export const ALPHA_MAX = 2;
export const ALPHA_STEP = 0.05;

export interface StudioState {
  phase: 'loading' | 'ready' | 'failed';
  models: ModelSummary[];
  /** What the α field holds, possibly not (yet) a valid number. */
  alphaText: string;
  /** The last valid α; the plan uses this one. */
  alpha: number;
  alphaError: string | null;
  embeddings: EmbeddingPolicy;
  report: StudioReport | null;
  planning: boolean;
  /** A message for a person; never a stack trace. */
  error: string | null;
  start(api: Remote<StudioWorkerApi>): Promise<void>;
  setAlphaText(text: string): void;
  setEmbeddings(policy: EmbeddingPolicy): void;
}

let worker: Remote<StudioWorkerApi> | null = null;
/** Only the newest plan request may update the report (answers can arrive out of order). */
let planSeq = 0;

export const useStudio = create<StudioState>()((set, get) => {
  const replan = async () => {
    if (!worker || get().phase !== 'ready') return;
    const seq = ++planSeq;
    set({ planning: true });
    try {
      const report = await worker.plan({ alpha: get().alpha, embeddings: get().embeddings });
      if (seq === planSeq) set({ report, planning: false, error: null });
    } catch (e) {
      if (seq === planSeq) set({ planning: false, error: `The merge could not be planned: ${errorMessage(e)}` });
    }
  };

  return {
    phase: 'loading',
    models: [],
    alphaText: '1.0',
    alpha: 1,
    alphaError: null,
    embeddings: 'overlap',
    report: null,
    planning: false,
    error: null,

    async start(api) {
      worker = api;
      set({ phase: 'loading', error: null });
      try {
        const models = await api.loadDemo();
        set({ models, phase: 'ready' });
      } catch (e) {
        set({ phase: 'failed', error: `The demo models could not be loaded: ${errorMessage(e)}` });
        return;
      }
      await replan();
    },

    setAlphaText(text) {
      const parsed = parseAlpha(text);
      if (typeof parsed === 'string') {
        set({ alphaText: text, alphaError: parsed });
        return;
      }
      set({ alphaText: text, alpha: parsed, alphaError: null });
      void replan();
    },

    setEmbeddings(policy) {
      set({ embeddings: policy });
      void replan();
    },
  };
});

/** α from the text field, or why it is not usable. */
export function parseAlpha(text: string): number | string {
  if (text.trim() === '') return 'Enter a value for α.';
  const alpha = Number(text);
  if (!Number.isFinite(alpha)) return `α must be a number, not "${text}".`;
  if (alpha < ALPHA_MIN || alpha > ALPHA_MAX) return `α must be between ${formatNumber(ALPHA_MIN)} and ${formatNumber(ALPHA_MAX)}.`;
  return alpha;
}

/** The message of an error from the worker (comlink rebuilds it as an Error), without its stack. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return String(e);
}
