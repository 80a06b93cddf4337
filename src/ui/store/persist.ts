/**
 * The studio as it survives a reload: the recipe (our JSON recipe format, validated like a file on the way back in)
 * and what each slot was loaded from. Local folders are remembered by name only: their files must be chosen again.
 */
import { parseRecipeJson, recipeToJson } from '../../core/recipe-io.ts';
import type { Recipe } from '../../core/recipe.ts';
import { browserStorage } from '../slots/hub-settings.ts';
import { DEMO_ROLES, type DemoRole, type RememberedSource } from '../slots/sources.ts';

const KEY = 'chatvec.studio';
const VERSION = 1;
/** Saved state is small; anything larger is not ours. */
const MAX_SAVED_CHARS = 1_000_000;
/** The reference written for a slot that holds no model. */
export const EMPTY_REF = '(empty)';

export interface SavedSlots {
  cp: RememberedSource | null;
  vectors: { base: RememberedSource | null; chat: RememberedSource | null }[];
}

export interface SavedStudio {
  recipe: Recipe;
  slots: SavedSlots;
}

export function saveStudio(state: SavedStudio, storage: Storage | null = browserStorage()): void {
  if (!storage) return;
  try {
    storage.setItem(KEY, JSON.stringify({ version: VERSION, recipe: JSON.parse(recipeToJson(state.recipe)), slots: state.slots }));
  } catch {
    /* storage full or blocked: the studio still works, it just will not be restored */
  }
}

/** The saved studio, null when nothing was saved, or a message saying why what was saved cannot be used. */
export function loadStudio(storage: Storage | null = browserStorage()): SavedStudio | null | { error: string } {
  let text: string | null;
  try {
    text = storage?.getItem(KEY) ?? null;
  } catch {
    return null;
  }
  if (text === null) return null;
  try {
    if (text.length > MAX_SAVED_CHARS) throw new Error(`it is ${text.length} characters long, more than ${MAX_SAVED_CHARS}`);
    const saved: unknown = JSON.parse(text);
    if (!isObj(saved) || saved.version !== VERSION) throw new Error(`it is not version ${VERSION} of the studio state`);
    const recipe = parseRecipeJson(JSON.stringify(saved.recipe), 'saved recipe');
    const slots = saved.slots;
    if (!isObj(slots) || !Array.isArray(slots.vectors) || slots.vectors.length !== recipe.vectors.length) throw new Error('its slots do not match its recipe');
    return {
      recipe,
      slots: {
        cp: readSource(slots.cp),
        vectors: slots.vectors.map((v: unknown) => {
          if (!isObj(v)) throw new Error('a chat vector entry is not an object');
          return { base: readSource(v.base), chat: readSource(v.chat) };
        }),
      },
    };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export function clearSavedStudio(storage: Storage | null = browserStorage()): void {
  try {
    storage?.removeItem(KEY);
  } catch {
    /* nothing to clear */
  }
}

function readSource(v: unknown): RememberedSource | null {
  if (v === null || v === undefined) return null;
  if (!isObj(v)) throw new Error('a slot source is not an object');
  const str = (k: string) => {
    const s = v[k];
    if (typeof s !== 'string' || s === '') throw new Error(`a ${String(v.kind)} slot source has no ${k}`);
    return s;
  };
  switch (v.kind) {
    case 'demo': {
      const role = str('role');
      if (!(DEMO_ROLES as readonly string[]).includes(role)) throw new Error(`"${role}" is not a demo model`);
      return { kind: 'demo', role: role as DemoRole };
    }
    case 'hub':
      return { kind: 'hub', repo: str('repo'), hubUrl: str('hubUrl'), ...(v.revision === undefined ? {} : { revision: str('revision') }) };
    case 'library':
      return { kind: 'library', id: str('id') };
    case 'folder':
      return { kind: 'folder', name: str('name') };
    default:
      throw new Error(`"${String(v.kind)}" is not a kind of slot source`);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
