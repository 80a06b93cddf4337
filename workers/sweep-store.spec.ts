import { describe, expect, it } from 'vitest';
import type { SweepResult } from '../src/sweep/types.ts';
import { FakeStorage } from './fake-opfs.ts';
import { SweepStore } from './sweep-store.ts';

function result(id: string, createdAt: string, recommended: number | null): SweepResult {
  return {
    chatvecSweep: 1, id, createdAt, models: { cp: 'demo/cp', base: 'demo/base', chat: 'demo/chat' },
    promptSet: { id: 'builtin:ko', name: 'Korean', lang: 'ko', source: 'CC0', prompts: [{ id: 'ko-01', text: '안녕' }] },
    settings: { alphas: [0, 1], maxNewTokens: 8, repetitionPenalty: 1, system: '', threshold: 0.9 },
    points: [], responses: [], recommendation: { alpha: recommended, threshold: 0.9, reasoning: '…' }, elapsedMs: 5,
  };
}

describe('SweepStore', () => {
  it('saves atomically, lists newest first, loads, refuses to overwrite and deletes', async () => {
    const storage = new FakeStorage();
    const store = new SweepStore(async () => storage.root as unknown as FileSystemDirectoryHandle);
    expect(await store.list()).toEqual([]);
    await store.save(result('sweep-a', '2026-11-26T10:00:00.000Z', 0.5));
    await store.save(result('sweep-b', '2026-11-26T11:00:00.000Z', null));
    expect(storage.root.paths()).toEqual(['sweeps/sweep-a.json', 'sweeps/sweep-b.json']);
    expect((await store.list()).map((s) => [s.id, s.recommended, s.alphas, s.prompts])).toEqual([['sweep-b', null, [0, 1], 1], ['sweep-a', 0.5, [0, 1], 1]]);
    expect(await store.load('sweep-a')).toEqual(result('sweep-a', '2026-11-26T10:00:00.000Z', 0.5));
    await expect(store.save(result('sweep-a', '2026-11-26T12:00:00.000Z', 1))).rejects.toThrow('sweeps/sweep-a.json: a saved sweep with this id exists already');
    expect((await store.load('sweep-a')).createdAt).toBe('2026-11-26T10:00:00.000Z');
    await store.remove('sweep-a');
    expect(storage.root.paths()).toEqual(['sweeps/sweep-b.json']);
    await expect(store.load('sweep-a')).rejects.toThrow('sweeps/sweep-a.json: there is no saved sweep with this id');
    await expect(store.load('../library/x')).rejects.toThrow('there is no saved sweep with this id');
  });

  it('leaves damaged files out of the list and names them when opened', async () => {
    const storage = new FakeStorage();
    const store = new SweepStore(async () => storage.root as unknown as FileSystemDirectoryHandle);
    await store.save(result('sweep-a', '2026-11-26T10:00:00.000Z', 0.5));
    const dir = await storage.root.getDirectoryHandle('sweeps');
    (await dir.getFileHandle('sweep-x.json', { create: true })).data = new TextEncoder().encode('{"chatvecSweep": 1');
    (await dir.getFileHandle('sweep-y.json', { create: true })).data = new TextEncoder().encode('{"hello": 1}');
    expect((await store.list()).map((s) => s.id)).toEqual(['sweep-a']);
    await expect(store.load('sweep-x')).rejects.toThrow('sweeps/sweep-x.json: a saved sweep is not valid JSON');
    await expect(store.load('sweep-y')).rejects.toThrow('sweeps/sweep-y.json: a saved file is not a sweep result of this version');
  });
});
