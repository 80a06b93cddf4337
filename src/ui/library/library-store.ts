/**
 * The library view's state: merged models in OPFS, storage use, the Hub cache, SHA-256 sums as they are
 * computed, and exports in progress. Listing, hashing and deleting happen in the worker; exports in the page.
 */
import type { Remote } from 'comlink';
import { create } from 'zustand';
import type { CacheEntryInfo, StorageInfo } from '../../../workers/contract.ts';
import type { StudioLibraryEntry } from '../../../workers/studio-api.ts';
import type { StudioWorkerApi } from '../../../workers/studio.worker.ts';
import { errorMessage } from '../store.ts';
import { announceLibraryChange } from '../merge/merge-store.ts';
import { downloadFile, downloadZip, saveToFolder } from './export.ts';
import { isAbort } from '../slots/sources.ts';

type Worker = Remote<StudioWorkerApi>;

export interface LibraryState {
  entries: StudioLibraryEntry[] | null;
  storage: StorageInfo | null;
  cache: CacheEntryInfo[];
  /** A message for a person; never a stack trace. */
  error: string | null;
  /** `<id>/<file>` being hashed. */
  hashing: Record<string, boolean>;
  /** Per model: what an export is doing now, or what it ended with. */
  exports: Record<string, { busy: boolean; message: string; failed?: boolean }>;
  refresh(worker: Worker): Promise<void>;
  hash(worker: Worker, id: string, file: string): Promise<void>;
  remove(worker: Worker, id: string): Promise<void>;
  persist(worker: Worker): Promise<void>;
  evict(worker: Worker, key: string): Promise<void>;
  exportModel(entry: StudioLibraryEntry, how: 'folder' | 'zip' | { file: string }): Promise<void>;
}

export const useLibrary = create<LibraryState>()((set, get) => {
  const setExport = (id: string, value: LibraryState['exports'][string]) => set((s) => ({ exports: { ...s.exports, [id]: value } }));
  const fail = (what: string, e: unknown) => set({ error: `${what}: ${errorMessage(e)}` });

  return {
    entries: null,
    storage: null,
    cache: [],
    error: null,
    hashing: {},
    exports: {},

    async refresh(worker) {
      try {
        const [entries, storage, cache] = await Promise.all([worker.library(), worker.storage(), worker.cacheEntries()]);
        set({ entries, storage, cache });
      } catch (e) {
        fail('The library could not be read', e);
      }
    },

    async hash(worker, id, file) {
      const key = `${id}/${file}`;
      set((s) => ({ hashing: { ...s.hashing, [key]: true } }));
      try {
        const sum = await worker.sha256(id, file);
        set((s) => ({ entries: s.entries?.map((e) => (e.id === id ? { ...e, sha256: { ...e.sha256, [file]: sum } } : e)) ?? null }));
      } catch (e) {
        fail(`The SHA-256 of ${file} could not be computed`, e);
      } finally {
        set((s) => ({ hashing: { ...s.hashing, [key]: false } }));
      }
    },

    async remove(worker, id) {
      try {
        await worker.deleteModel(id);
        announceLibraryChange();
      } catch (e) {
        fail('The model could not be deleted', e);
      }
      await get().refresh(worker);
    },

    async persist(worker) {
      try {
        // Only a page may ask; the worker then reports what the browser granted.
        if (typeof navigator.storage?.persist === 'function') await navigator.storage.persist();
        else await worker.persist();
      } catch (e) {
        fail('The browser did not answer the request to keep data', e);
      }
      await get().refresh(worker);
    },

    async evict(worker, key) {
      try {
        await worker.evictCache(key);
      } catch (e) {
        fail('The cached file could not be removed', e);
      }
      await get().refresh(worker);
    },

    async exportModel(entry, how) {
      const id = entry.id;
      if (get().exports[id]?.busy) return;
      try {
        if (how === 'folder') {
          setExport(id, { busy: true, message: 'Saving…' });
          const where = await saveToFolder(entry, (done, total) => setExport(id, { busy: true, message: `Saving file ${Math.min(done + 1, total)} of ${total}…` }));
          setExport(id, { busy: false, message: `Saved to ${where}.` });
        } else if (how === 'zip') {
          setExport(id, { busy: true, message: 'Building the .zip…' });
          await downloadZip(entry);
          setExport(id, { busy: false, message: 'The .zip download has started.' });
        } else {
          await downloadFile(entry, how.file);
        }
      } catch (e) {
        if (isAbort(e)) setExport(id, { busy: false, message: '' });
        else setExport(id, { busy: false, message: `The export failed: ${errorMessage(e)}`, failed: true });
      }
    },
  };
});
