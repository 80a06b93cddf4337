/**
 * A TensorCache (src/hub/range-cache.ts) in OPFS, for the studio worker: Hub bytes downloaded once are read from
 * disk on the next plan or merge, also after a reload. Layout:
 *
 *   hub-cache/.meta.json          {"blockSize": N}: blocks of another size are not ours, the cache starts afresh
 *   hub-cache/<sha256 of key>/    one folder per file at one commit
 *     .key.json                   the CacheKey
 *     <offset>                    one block, exactly as CachedByteSource asked (offset = k · blockSize)
 *
 * Blocks are written under a temporary name and renamed, so a reader never sees half a block.
 */
import { parseJsonObject } from '../src/core/checkpoint.ts';
import { readWholeFile, writeFileAtomic } from '../src/core/merge/output-folder.ts';
import { directoryEntries, OpfsOutputFolder } from '../src/core/sources/opfs.ts';
import { cacheKeyId, DEFAULT_BLOCK_SIZE, type CacheEntry, type CacheKey, type TensorCache } from '../src/hub/range-cache.ts';

export const HUB_CACHE_DIR = 'hub-cache';
const META_FILE = '.meta.json';
const KEY_FILE = '.key.json';
const BLOCK_NAME = /^\d+$/;

export interface OpfsTensorCacheParams {
  /** The OPFS root (`navigator.storage.getDirectory()`). */
  root: () => Promise<FileSystemDirectoryHandle>;
  /** Bytes per block (default 16 MiB). */
  blockSize?: number;
  /** Asked before each block is stored: false drops it (the space is needed for a merge's output). */
  canStore?: (bytes: number) => Promise<boolean>;
}

export class OpfsTensorCache implements TensorCache {
  readonly blockSize: number;
  private ready: Promise<FileSystemDirectoryHandle> | null = null;
  /** Last read of each file in this session (block files only record when they were written). */
  private readonly lastRead = new Map<string, number>();

  constructor(private readonly params: OpfsTensorCacheParams) {
    this.blockSize = params.blockSize ?? DEFAULT_BLOCK_SIZE;
  }

  async get(key: CacheKey, offset: number, length: number): Promise<Uint8Array | null> {
    const folder = await this.fileFolder(key, false);
    if (!folder) return null;
    try {
      const file = await (await folder.dir.getFileHandle(String(offset))).getFile();
      if (file.size !== length) return null;
      this.lastRead.set(folder.dir.name, Date.now());
      return new Uint8Array(await file.arrayBuffer());
    } catch {
      return null;
    }
  }

  async put(key: CacheKey, offset: number, bytes: Uint8Array): Promise<void> {
    if (this.params.canStore && !(await this.params.canStore(bytes.length))) return;
    const folder = (await this.fileFolder(key, true))!;
    if ((await folder.size(KEY_FILE)) === null) await writeFileAtomic(folder, KEY_FILE, JSON.stringify(key));
    await writeFileAtomic(folder, String(offset), bytes);
  }

  async entries(): Promise<CacheEntry[]> {
    return (await this.folders()).map(({ entry }) => entry);
  }

  async evict(key: CacheKey): Promise<void> {
    await this.evictFolder(await folderName(key));
  }

  /** Every cached file with the folder that holds it (the id the studio page uses to evict). */
  async folders(): Promise<{ id: string; entry: CacheEntry }[]> {
    const cache = await this.cacheDir();
    const found: { id: string; entry: CacheEntry }[] = [];
    for await (const [id, handle] of directoryEntries(cache)) {
      if (handle.kind !== 'directory') continue;
      const folder = new OpfsOutputFolder(`${HUB_CACHE_DIR}/${id}`, handle as FileSystemDirectoryHandle);
      const key = await readKey(folder);
      if (!key) continue;
      let bytes = 0, blocks = 0, lastUsed = this.lastRead.get(id) ?? 0;
      for await (const [name, block] of directoryEntries(folder.dir)) {
        if (block.kind !== 'file' || !BLOCK_NAME.test(name)) continue;
        const file = await (block as FileSystemFileHandle).getFile();
        bytes += file.size;
        blocks++;
        lastUsed = Math.max(lastUsed, file.lastModified);
      }
      found.push({ id, entry: { key, bytes, blocks, lastUsed } });
    }
    return found.sort((a, b) => b.entry.lastUsed - a.entry.lastUsed || a.id.localeCompare(b.id));
  }

  async evictFolder(id: string): Promise<void> {
    const cache = await this.cacheDir();
    await cache.removeEntry(id, { recursive: true }).catch((e: { name?: string }) => {
      if (e.name !== 'NotFoundError') throw e;
    });
    this.lastRead.delete(id);
  }

  private async fileFolder(key: CacheKey, create: boolean): Promise<OpfsOutputFolder | null> {
    const cache = await this.cacheDir();
    const id = await folderName(key);
    try {
      return new OpfsOutputFolder(`${HUB_CACHE_DIR}/${id}`, await cache.getDirectoryHandle(id, { create }));
    } catch (e) {
      if (!create && (e as { name?: string }).name === 'NotFoundError') return null;
      throw e;
    }
  }

  /** `hub-cache/`, emptied once if its blocks have another size than ours. */
  private cacheDir(): Promise<FileSystemDirectoryHandle> {
    this.ready ??= (async () => {
      const root = await this.params.root();
      let dir = await root.getDirectoryHandle(HUB_CACHE_DIR, { create: true });
      const meta = new OpfsOutputFolder(HUB_CACHE_DIR, dir);
      const stored = await readWholeFile(meta, META_FILE).catch(() => null);
      const blockSize = stored ? (parseJsonObject(stored, `${HUB_CACHE_DIR}/${META_FILE}`) as { blockSize?: unknown }).blockSize : null;
      if (blockSize !== this.blockSize) {
        await root.removeEntry(HUB_CACHE_DIR, { recursive: true });
        dir = await root.getDirectoryHandle(HUB_CACHE_DIR, { create: true });
        await writeFileAtomic(new OpfsOutputFolder(HUB_CACHE_DIR, dir), META_FILE, JSON.stringify({ blockSize: this.blockSize }));
      }
      return dir;
    })();
    this.ready.catch(() => (this.ready = null));
    return this.ready;
  }
}

async function readKey(folder: OpfsOutputFolder): Promise<CacheKey | null> {
  try {
    const bytes = await readWholeFile(folder, KEY_FILE);
    const key = bytes && (parseJsonObject(bytes, `${folder.label}/${KEY_FILE}`) as unknown as CacheKey);
    return key && [key.hubUrl, key.repo, key.commit, key.path].every((v) => typeof v === 'string') ? key : null;
  } catch {
    return null;
  }
}

/** A folder name for a key: its SHA-256, since paths and URLs hold characters OPFS names may not. */
async function folderName(key: CacheKey): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(cacheKeyId(key)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 40);
}
