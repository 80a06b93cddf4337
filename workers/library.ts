/**
 * The studio's library in OPFS: one folder `library/<id>/` per merged model, holding the model's files and
 * `.studio-entry.json` (the LibraryEntry plus the inputs' public source specs, so an interrupted merge knows
 * what it needs). A dot name keeps the entry out of the model's file list, as the resume manifest is.
 * Directory handles of local inputs cannot go into JSON; they are kept in IndexedDB.
 */
import { ChatvecError } from '../src/core/errors.ts';
import { loadManifest, MANIFEST_FILE, type ResumeManifest } from '../src/core/merge/manifest.ts';
import { readWholeFile, writeFileAtomic } from '../src/core/merge/output-folder.ts';
import { parseJsonObject } from '../src/core/checkpoint.ts';
import { directoryEntries, OpfsOutputFolder } from '../src/core/sources/opfs.ts';
import type { LibraryEntry, PublicSourceSpec } from './contract.ts';

export const LIBRARY_DIR = 'library';
export const ENTRY_FILE = '.studio-entry.json';

/** A source spec as JSON can hold it: a local folder by its name only (its handle lives in IndexedDB). */
export type StoredSourceSpec = Exclude<PublicSourceSpec, { kind: 'directory' }> | { kind: 'directory'; name: string };

/** What `.studio-entry.json` holds. */
export interface StudioEntry extends LibraryEntry {
  chatvec_studio_entry: 1;
  /** Every model the recipe names, with where it came from. */
  sources: { ref: string; spec: StoredSourceSpec }[];
  /** SHA-256 (hex) of files, filled in as they are computed. */
  sha256: Record<string, string>;
}

/** Directory handles of an interrupted merge's local inputs (structured-cloneable, so IndexedDB can keep them). */
export interface HandleStore {
  put(id: string, ref: string, handle: FileSystemDirectoryHandle): Promise<void>;
  get(id: string, ref: string): Promise<FileSystemDirectoryHandle | null>;
  removeAll(id: string): Promise<void>;
}

export class Library {
  constructor(private readonly root: () => Promise<FileSystemDirectoryHandle>) {}

  /** `library/`, or null when nothing was ever merged. */
  private async libraryDir(create: boolean): Promise<FileSystemDirectoryHandle | null> {
    try {
      return await (await this.root()).getDirectoryHandle(LIBRARY_DIR, { create });
    } catch (e) {
      if ((e as { name?: string }).name === 'NotFoundError') return null;
      throw e;
    }
  }

  async folder(id: string): Promise<OpfsOutputFolder | null> {
    const lib = await this.libraryDir(false);
    if (!lib) return null;
    try {
      return new OpfsOutputFolder(`library/${id}`, await lib.getDirectoryHandle(id), [ENTRY_FILE]);
    } catch (e) {
      if ((e as { name?: string }).name === 'NotFoundError' || (e as { name?: string }).name === 'TypeError') return null;
      throw e;
    }
  }

  /** A new, empty folder for an entry; the entry is written first so an interrupted merge can be found. */
  async create(entry: StudioEntry): Promise<OpfsOutputFolder> {
    const lib = (await this.libraryDir(true))!;
    const out = new OpfsOutputFolder(`library/${entry.id}`, await lib.getDirectoryHandle(entry.id, { create: true }), [ENTRY_FILE]);
    await this.write(out, entry);
    return out;
  }

  write(out: OpfsOutputFolder, entry: StudioEntry): Promise<void> {
    return writeFileAtomic(out, ENTRY_FILE, JSON.stringify(entry, null, 2) + '\n');
  }

  async read(out: OpfsOutputFolder): Promise<StudioEntry | null> {
    const bytes = await readWholeFile(out, ENTRY_FILE);
    if (!bytes) return null;
    const entry = parseJsonObject(bytes, `${out.label}/${ENTRY_FILE}`) as unknown as StudioEntry;
    if (entry.chatvec_studio_entry !== 1 || typeof entry.id !== 'string' || !Array.isArray(entry.sources)) return null;
    return { ...entry, sha256: entry.sha256 ?? {} };
  }

  /** The entry of `id` and its folder, or an error naming the id. */
  async open(id: string): Promise<{ out: OpfsOutputFolder; entry: StudioEntry }> {
    const out = await this.folder(id);
    const entry = out && (await this.read(out));
    if (!out || !entry) throw new ChatvecError('no such model in the library', { code: 'library-missing', file: `library/${id}`, hint: 'Reload the page to refresh the library list' });
    return { out, entry };
  }

  /** Every entry, newest first; an entry whose folder still holds a resume manifest is `interrupted`. */
  async list(): Promise<{ entry: StudioEntry; out: OpfsOutputFolder; manifest: ResumeManifest | null }[]> {
    const lib = await this.libraryDir(false);
    if (!lib) return [];
    const found = [];
    for await (const [id, handle] of directoryEntries(lib)) {
      if (handle.kind !== 'directory') continue;
      const out = new OpfsOutputFolder(`library/${id}`, handle as FileSystemDirectoryHandle, [ENTRY_FILE]);
      const entry = await this.read(out).catch(() => null);
      if (!entry) continue;
      const manifest = await loadManifest(out).catch(() => null);
      if (manifest || entry.status !== 'complete') {
        entry.status = 'interrupted';
        entry.files = await filesOf(out);
        entry.totalBytes = entry.files.reduce((a, f) => a + f.size, 0);
      }
      found.push({ entry, out, manifest });
    }
    return found.sort((a, b) => b.entry.createdAt.localeCompare(a.entry.createdAt) || a.entry.id.localeCompare(b.entry.id));
  }

  async remove(id: string): Promise<void> {
    const lib = await this.libraryDir(false);
    if (!lib) return;
    try {
      await lib.removeEntry(id, { recursive: true });
    } catch (e) {
      if ((e as { name?: string }).name !== 'NotFoundError') throw e;
    }
  }
}

/** The model's files (partials of an interrupted merge included), with sizes. */
export async function filesOf(out: OpfsOutputFolder): Promise<{ name: string; size: number }[]> {
  const files = [];
  for (const name of await out.list()) if (name !== MANIFEST_FILE && !name.startsWith(`${MANIFEST_FILE}.`)) files.push({ name, size: (await out.size(name)) ?? 0 });
  return files;
}

/** How far an interrupted merge got, in data bytes, from its resume manifest. */
export function manifestProgress(m: ResumeManifest): { bytesDone: number; bytesTotal: number } {
  const bytesTotal = m.shards.reduce((a, s) => a + s.dataBytes, 0);
  const bytesDone = m.shards.reduce((a, s, i) => a + (s.done ? s.dataBytes : i === m.current.shard ? Math.min(s.dataBytes, m.current.bytes) : 0), 0);
  return { bytesDone, bytesTotal };
}

/** A folder name for a new model: the name made safe, and a time stamp so that names may repeat. */
export function newModelId(name: string, now = new Date()): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 48) || 'model';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${slug}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Why a model name is not usable, or null. */
export function checkModelName(name: string): string | null {
  if (name.trim() === '') return 'Enter a name for the merged model.';
  if (name.length > 100) return `The name is too long (${name.length} characters; at most 100).`;
  return null;
}

/** Directory handles in IndexedDB (database `chatvec-studio`, store `handles`, key `<id>\n<ref>`). */
export class IndexedDbHandleStore implements HandleStore {
  private db: Promise<IDBDatabase> | null = null;

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open('chatvec-studio', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('handles');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('handles', mode);
      const req = op(tx.objectStore('handles'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async put(id: string, ref: string, handle: FileSystemDirectoryHandle): Promise<void> {
    await this.run('readwrite', (s) => s.put(handle, `${id}\n${ref}`));
  }

  async get(id: string, ref: string): Promise<FileSystemDirectoryHandle | null> {
    return ((await this.run('readonly', (s) => s.get(`${id}\n${ref}`))) as FileSystemDirectoryHandle | undefined) ?? null;
  }

  async removeAll(id: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(IDBKeyRange.bound(`${id}\n`, `${id}\n\uffff`)));
  }
}
