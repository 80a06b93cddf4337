import { describe, expect, it } from 'vitest';
import type { Recipe } from '../../core/recipe.ts';
import { loadStudio, saveStudio, type SavedStudio } from './persist.ts';

/** localStorage's interface over a Map. */
function memoryStorage(initial: Record<string, string> = {}): Storage {
  const map = new Map(Object.entries(initial));
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (k) => map.get(k) ?? null,
    key: (i) => [...map.keys()][i] ?? null,
    removeItem: (k) => void map.delete(k),
    setItem: (k, v) => void map.set(k, String(v)),
  };
}

const recipe: Recipe = { cp: 'demo/cp', vectors: [{ base: 'demo/base', chat: 'local/chat', alpha: [0, 0.5, 1] }], embeddings: 'skip', skip: ['*norm*'], dtype: 'bf16', shardSize: 5_000_000_000, copyTokenRows: ['<|eot_id|>'] };
const saved: SavedStudio = {
  recipe,
  slots: { cp: { kind: 'hub', repo: 'owner/name', revision: 'v1', hubUrl: 'https://huggingface.co' }, vectors: [{ base: { kind: 'demo', role: 'base' }, chat: { kind: 'folder', name: 'chat' } }] },
};

describe('saved studio', () => {
  it('comes back as it was saved, with no token in it', () => {
    const storage = memoryStorage();
    saveStudio(saved, storage);
    expect(loadStudio(storage)).toEqual(saved);
    expect(storage.getItem('chatvec.studio')).not.toContain('accessToken');
  });

  it('is null when nothing was saved', () => {
    expect(loadStudio(memoryStorage())).toBeNull();
  });

  it('says why a damaged or foreign state cannot be used', () => {
    const load = (text: string) => loadStudio(memoryStorage({ 'chatvec.studio': text }));
    expect(load('{')).toEqual({ error: expect.stringContaining('JSON') });
    expect(load('{"version":2}')).toEqual({ error: 'it is not version 1 of the studio state' });
    const good = JSON.parse((() => {
      const s = memoryStorage();
      saveStudio(saved, s);
      return s.getItem('chatvec.studio')!;
    })());
    expect(load(JSON.stringify({ ...good, recipe: { ...good.recipe, vectors: [{ base: 'a', chat: 'b', alpha: 'x' }] } }))).toEqual({ error: expect.stringContaining('saved recipe, tensor "vectors[0].alpha": not a valid α setting') });
    expect(load(JSON.stringify({ ...good, slots: { cp: null, vectors: [] } }))).toEqual({ error: 'its slots do not match its recipe' });
    expect(load(JSON.stringify({ ...good, slots: { cp: { kind: 'demo', role: 'other' }, vectors: good.slots.vectors } }))).toEqual({ error: '"other" is not a demo model' });
    expect(load(JSON.stringify({ ...good, slots: { cp: { kind: 'ftp', url: 'x' }, vectors: good.slots.vectors } }))).toEqual({ error: '"ftp" is not a kind of slot source' });
    expect(load('x'.repeat(1_000_001))).toEqual({ error: 'it is 1000001 characters long, more than 1000000' });
  });
});
