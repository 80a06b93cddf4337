/**
 * The studio page's state: model slots (what each holds, loading, errors), the recipe editor, and the live plan.
 * The store builds a Recipe whose model references are the refs the worker's loadSource returned; nothing here
 * reads tensors.
 */
import type { Remote } from 'comlink';
import { create } from 'zustand';
import type { Recipe } from '../core/recipe.ts';
import type { LibraryEntry, LoadedSource, PlanReport, SourceSpec } from '../../workers/contract.ts';
import type { StudioWorkerApi } from '../../workers/studio.worker.ts';
import { constantAlpha, type AlphaEditor } from './recipe/alpha.ts';
import { buildRecipe, editorFromRecipe, type RecipeSettings } from './recipe/settings.ts';
import { loadHubSettings, saveHubSettings, type HubSettings } from './slots/hub-settings.ts';
import { DEMO_ROLES, rememberSource, restorableSpec, specForRef, type RememberedSource } from './slots/sources.ts';
import { EMPTY_REF, loadStudio, saveStudio, type SavedSlots } from './store/persist.ts';

export { ALPHA_MAX, ALPHA_MIN, ALPHA_STEP, parseAlpha } from './recipe/alpha.ts';

export type StudioWorker = Remote<StudioWorkerApi>;

/** `cp`, or `base:<key>` / `chat:<key>` for the chat vector with that key. */
export type SlotId = string;

export interface Slot {
  id: SlotId;
  /** What the model shown was loaded from (or, while none is, what to load again). In memory only: may hold files and a token. */
  spec: SourceSpec | null;
  /** The same source as it is remembered across reloads. */
  source: RememberedSource | null;
  status: 'empty' | 'loading' | 'ready' | 'failed';
  /** The model in the worker that the recipe uses; kept while another source loads or after one fails. */
  loaded: LoadedSource | null;
  /** The source being loaded now. */
  pending: RememberedSource | null;
  error: string | null;
  /** A model an imported or restored recipe names for this slot, not loaded yet. */
  wanted: string | null;
}

export interface VectorState {
  /** Stable across removals: slot ids and React keys use it. */
  key: number;
  base: Slot;
  chat: Slot;
  alpha: AlphaEditor;
}

export interface ImportResult {
  /** Slots whose model was already loaded under the reference the recipe names. */
  matched: number;
  /** Demo and library models the studio loads by itself. */
  loading: number;
  /** Models the person must load, by slot title. */
  missing: { slot: string; ref: string }[];
}

export interface StudioState {
  phase: 'loading' | 'ready' | 'failed';
  /** A page-level message for a person; never a stack trace. */
  error: string | null;
  /** Something worth knowing that blocks nothing (a saved state that could not be restored). */
  notice: string | null;
  cp: Slot;
  vectors: VectorState[];
  settings: RecipeSettings;
  /** The recipe over the loaded models; null while a slot has none. */
  recipe: Recipe | null;
  report: PlanReport | null;
  /** The recipe `report` was planned for. */
  reportRecipe: Recipe | null;
  planning: boolean;
  planError: string | null;
  hub: HubSettings;
  library: { entries: LibraryEntry[] | null; error: string | null; loading: boolean };

  start(api: StudioWorker): Promise<void>;
  loadSlot(id: SlotId, spec: SourceSpec): Promise<void>;
  retrySlot(id: SlotId): void;
  clearSlot(id: SlotId): void;
  addVector(): void;
  removeVector(key: number): void;
  setAlpha(key: number, alpha: AlphaEditor): void;
  updateSettings(patch: Partial<RecipeSettings>): void;
  importRecipe(recipe: Recipe): ImportResult;
  setHub(patch: Partial<HubSettings>): void;
  refreshLibrary(): Promise<void>;
  dismissNotice(): void;
}

/** Wait this long after the last change before planning: typing and dragging re-plan once, not per keystroke. */
export const PLAN_DEBOUNCE_MS = 120;

export const DEFAULT_SETTINGS: RecipeSettings = { embeddings: 'overlap', skip: [], dtype: 'auto', shardSize: 2_000_000_000, copyTokenRows: [] };

let worker: StudioWorker | null = null;
/** Only the newest plan request may update the report (answers can arrive out of order). */
let planSeq = 0;
let planTimer: ReturnType<typeof setTimeout> | undefined;
/** Per slot: only the newest load may fill it. */
const loadSeq = new Map<SlotId, number>();
let nextVectorKey = 0;
let recipeKey: string | null = null;
/** Counts successful loads: a folder loaded again under the same reference changes the plan but not the recipe. */
let sourcesVersion = 0;
/** Nothing is saved before the saved state has been read. */
let started = false;

/** The worker the page talks to (for the merge panel and the library view). */
export function getWorker(): StudioWorker {
  if (!worker) throw new Error('The studio worker has not started yet.');
  return worker;
}

export function emptySlot(id: SlotId): Slot {
  return { id, spec: null, source: null, status: 'empty', loaded: null, pending: null, error: null, wanted: null };
}

/** Every slot in page order: Base, Chat, CP, then the pairs of the other chat vectors. */
export function allSlots(s: Pick<StudioState, 'cp' | 'vectors'>): Slot[] {
  const [first, ...rest] = s.vectors;
  return [first.base, first.chat, s.cp, ...rest.flatMap((v) => [v.base, v.chat])];
}

export function slotTitle(s: Pick<StudioState, 'vectors'>, id: SlotId): string {
  if (id === 'cp') return 'CP';
  const [role, key] = id.split(':');
  const index = s.vectors.findIndex((v) => String(v.key) === key);
  const name = role === 'base' ? 'Base' : 'Chat';
  return index > 0 ? `${name} ${index + 1}` : name;
}

function newVector(base: Slot | null, chat: Slot | null, alpha: AlphaEditor): VectorState {
  const key = nextVectorKey++;
  return { key, base: { ...(base ?? emptySlot('')), id: `base:${key}` }, chat: { ...(chat ?? emptySlot('')), id: `chat:${key}` }, alpha };
}

function findSlot(s: Pick<StudioState, 'cp' | 'vectors'>, id: SlotId): Slot | null {
  return allSlots(s).find((slot) => slot.id === id) ?? null;
}

/** The state with slot `id` changed (nothing changes when the slot is gone, e.g. its vector was removed). */
function patchSlot(s: StudioState, id: SlotId, patch: (slot: Slot) => Slot): Pick<StudioState, 'cp' | 'vectors'> {
  if (id === 'cp') return { cp: patch(s.cp), vectors: s.vectors };
  return {
    cp: s.cp,
    vectors: s.vectors.map((v) => (v.base.id === id ? { ...v, base: patch(v.base) } : v.chat.id === id ? { ...v, chat: patch(v.chat) } : v)),
  };
}

function currentRecipe(s: StudioState): Recipe | null {
  const cp = s.cp.loaded?.ref;
  if (!cp || s.vectors.some((v) => !v.base.loaded || !v.chat.loaded)) return null;
  return buildRecipe(cp, s.vectors.map((v) => ({ base: v.base.loaded!.ref, chat: v.chat.loaded!.ref, alpha: v.alpha })), s.settings);
}

function savedSlots(s: StudioState): SavedSlots {
  return { cp: s.cp.source, vectors: s.vectors.map((v) => ({ base: v.base.source, chat: v.chat.source })) };
}

function bumpLoad(id: SlotId): number {
  const seq = (loadSeq.get(id) ?? 0) + 1;
  loadSeq.set(id, seq);
  return seq;
}

export const useStudio = create<StudioState>()((set, get) => {
  const schedulePlan = (recipe: Recipe | null) => {
    clearTimeout(planTimer);
    const seq = ++planSeq;
    if (!recipe || !worker) {
      set({ report: null, reportRecipe: null, planning: false, planError: null });
      return;
    }
    const api = worker;
    set({ planning: true });
    planTimer = setTimeout(async () => {
      try {
        const report = await api.planRecipe(recipe);
        if (seq === planSeq) set({ report, reportRecipe: recipe, planning: false, planError: null });
      } catch (e) {
        if (seq === planSeq) set({ report: null, reportRecipe: null, planning: false, planError: `The merge could not be planned: ${errorMessage(e)}` });
      }
    }, PLAN_DEBOUNCE_MS);
  };

  /** Every change goes through here: the recipe is rebuilt, re-planned when it changed, and saved. */
  const commit = (partial: Partial<StudioState> | ((s: StudioState) => Partial<StudioState>)) => {
    set(partial);
    const s = get();
    const recipe = currentRecipe(s);
    const key = recipe ? `${sourcesVersion}:${JSON.stringify(recipe)}` : null;
    if (key !== recipeKey) {
      recipeKey = key;
      set({ recipe });
      schedulePlan(recipe);
    }
    if (started) {
      const ref = (slot: Slot) => slot.loaded?.ref ?? slot.wanted ?? EMPTY_REF;
      saveStudio({ recipe: buildRecipe(ref(s.cp), s.vectors.map((v) => ({ base: ref(v.base), chat: ref(v.chat), alpha: v.alpha })), s.settings), slots: savedSlots(s) });
    }
  };

  const loadSlot = async (id: SlotId, spec: SourceSpec): Promise<void> => {
    if (!worker) return;
    const seq = bumpLoad(id);
    const pending = rememberSource(spec);
    commit((s) => patchSlot(s, id, (slot) => ({ ...slot, status: 'loading', pending, error: null })));
    try {
      const loaded = await worker.loadSource(spec);
      if (loadSeq.get(id) !== seq) return;
      sourcesVersion++;
      commit((s) => {
        const next = patchSlot(s, id, (slot) => ({ ...slot, spec, source: pending, status: 'ready', loaded, pending: null, error: null, wanted: null }));
        // The worker keeps one model per reference: a slot that held this reference now holds the new model too.
        const others = allSlots(next).filter((o) => o.id !== id && o.loaded?.ref === loaded.ref);
        return others.reduce((acc, o) => patchSlot({ ...s, ...acc }, o.id, (slot) => ({ ...slot, spec, source: pending, loaded })), next);
      });
    } catch (e) {
      if (loadSeq.get(id) !== seq) return;
      const message = errorMessage(e);
      commit((s) =>
        patchSlot(s, id, (slot) =>
          slot.loaded
            ? { ...slot, status: 'failed', pending: null, error: message }
            : // Nothing loaded: keep what was tried, so it can be retried (a Hub model while offline).
              { ...slot, spec, source: pending, status: 'failed', pending: null, error: message },
        ),
      );
    }
  };

  const hub = loadHubSettings();

  return {
    phase: 'loading',
    error: null,
    notice: null,
    cp: emptySlot('cp'),
    vectors: [newVector(null, null, constantAlpha(1))],
    settings: { ...DEFAULT_SETTINGS },
    recipe: null,
    report: null,
    reportRecipe: null,
    planning: false,
    planError: null,
    hub,
    library: { entries: null, error: null, loading: false },

    async start(api) {
      worker = api;
      const saved = loadStudio();
      const loads: [SlotId, SourceSpec][] = [];
      if (saved && !('error' in saved)) {
        const { settings, alphas } = editorFromRecipe(saved.recipe);
        const restore = (source: RememberedSource | null, ref: string): Slot => {
          const slot = { ...emptySlot(''), source, wanted: ref === EMPTY_REF ? null : ref };
          const spec = source && restorableSpec(source, source.kind === 'hub' ? get().hub.accessToken || undefined : undefined);
          return spec ? { ...slot, spec } : slot;
        };
        const cp = { ...restore(saved.slots.cp, saved.recipe.cp), id: 'cp' };
        const vectors = saved.recipe.vectors.map((v, i) => newVector(restore(saved.slots.vectors[i].base, v.base), restore(saved.slots.vectors[i].chat, v.chat), alphas[i]));
        for (const slot of [cp, ...vectors.flatMap((v) => [v.base, v.chat])]) if (slot.spec) loads.push([slot.id, slot.spec]);
        started = true;
        commit({ cp, vectors, settings });
      } else {
        // First run (or an unreadable saved state): the demo triplet, offline and instant.
        const vector = newVector(null, null, constantAlpha(1));
        loads.push(['cp', { kind: 'demo', role: 'cp' }], [vector.base.id, { kind: 'demo', role: 'base' }], [vector.chat.id, { kind: 'demo', role: 'chat' }]);
        started = true;
        commit({ cp: emptySlot('cp'), vectors: [vector], settings: { ...DEFAULT_SETTINGS }, notice: saved ? `The studio saved in this browser could not be restored (${saved.error}); starting with the demo models.` : null });
      }
      set({ phase: 'loading' });
      await Promise.all(loads.map(([id, spec]) => loadSlot(id, spec)));
      if (get().phase === 'loading') set({ phase: 'ready' });
    },

    loadSlot,

    retrySlot(id) {
      const slot = findSlot(get(), id);
      if (slot?.spec) void loadSlot(id, slot.spec);
    },

    clearSlot(id) {
      bumpLoad(id);
      commit((s) => patchSlot(s, id, () => emptySlot(id)));
    },

    addVector() {
      // A second chat vector usually shares the first one's base.
      commit((s) => {
        const first = s.vectors[0].base;
        const base = first.loaded ? { ...first, status: 'ready' as const, pending: null, error: null } : null;
        return { vectors: [...s.vectors, newVector(base, null, constantAlpha(1))] };
      });
    },

    removeVector(key) {
      if (get().vectors.length <= 1) return;
      commit((s) => ({ vectors: s.vectors.filter((v) => v.key !== key) }));
    },

    setAlpha(key, alpha) {
      commit((s) => ({ vectors: s.vectors.map((v) => (v.key === key ? { ...v, alpha } : v)) }));
    },

    updateSettings(patch) {
      commit((s) => ({ settings: { ...s.settings, ...patch } }));
    },

    importRecipe(recipe) {
      const s = get();
      const byRef = new Map<string, Slot>();
      for (const slot of allSlots(s)) if (slot.loaded) byRef.set(slot.loaded.ref, slot);
      const loads: [SlotId, SourceSpec][] = [];
      const result: ImportResult = { matched: 0, loading: 0, missing: [] };
      const place = (slot: Slot, ref: string): Slot => {
        const found = byRef.get(ref);
        if (found?.loaded) {
          result.matched++;
          return { ...slot, spec: found.spec, source: found.source, status: 'ready', loaded: found.loaded };
        }
        const spec = specForRef(ref);
        if (spec) {
          result.loading++;
          loads.push([slot.id, spec]);
        }
        return { ...slot, wanted: ref };
      };
      const { settings, alphas } = editorFromRecipe(recipe);
      bumpLoad('cp');
      const cp = place(emptySlot('cp'), recipe.cp);
      const vectors = recipe.vectors.map((v, i) => {
        const vector = newVector(null, null, alphas[i]);
        return { ...vector, base: place(vector.base, v.base), chat: place(vector.chat, v.chat) };
      });
      commit({ cp, vectors, settings });
      const next = get();
      for (const slot of allSlots(next)) if (!slot.loaded && slot.wanted && !loads.some(([id]) => id === slot.id)) result.missing.push({ slot: slotTitle(next, slot.id), ref: slot.wanted });
      for (const [id, spec] of loads) void loadSlot(id, spec);
      return result;
    },

    setHub(patch) {
      const hub = { ...get().hub, ...patch };
      set({ hub });
      saveHubSettings(hub);
    },

    async refreshLibrary() {
      if (!worker) return;
      set((s) => ({ library: { ...s.library, loading: true, error: null } }));
      try {
        const entries = await worker.library();
        set({ library: { entries, error: null, loading: false } });
      } catch (e) {
        set({ library: { entries: null, error: `The library could not be listed: ${errorMessage(e)}`, loading: false } });
      }
    },

    dismissNotice() {
      set({ notice: null });
    },
  };
});

/** The demo model a slot starts with. */
export function demoRoleFor(id: SlotId): (typeof DEMO_ROLES)[number] {
  return id === 'cp' ? 'cp' : id.startsWith('base:') ? 'base' : 'chat';
}

/** The message of an error from the worker (comlink rebuilds it as an Error), without its stack. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return String(e);
}
