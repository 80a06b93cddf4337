/**
 * The contract between `CachedByteSource` and a store of downloaded bytes (memory, OPFS, disk).
 *
 * What is stored: whole, aligned blocks of a file. `CachedByteSource` turns every read into the blocks it covers
 * and calls `get`/`put` only with
 *   offset = k · blockSize  (k ≥ 0)  and  length = min(blockSize, fileSize − offset),
 * so a store may keep one record per (key, offset) and never has to merge or split ranges. Because the blocks
 * are fixed, a merge that reads in 4 MB chunks and one that reads in 1 MB chunks hit the same entries.
 *
 * Why the key holds a commit: a path at a commit never changes, so an entry is valid for ever and needs no
 * revalidation (no ETag round trip). A branch that moves gives a new commit and thus new keys; old entries
 * simply stop being used and can be evicted.
 *
 * Rules for implementations:
 * - `get` returns exactly `length` bytes, or null when the block is not (fully) stored. Never a shorter array.
 *   The caller copies out of it and does not keep or modify it.
 * - `put` may keep the array it is given (the caller does not reuse it) or copy it; it may also drop the block
 *   (quota reached, store full): the cache is an optimisation and a dropped block is just downloaded again.
 *   A failing `put` or `get` must not lose other entries; the caller treats a throw as a miss.
 * - Calls may overlap (several reads in flight); `put` of a block already stored may simply overwrite it.
 * - `blockSize` is fixed for the lifetime of the store: entries written with another block size are not found
 *   (an OPFS store should keep it in its metadata and start afresh when it changes).
 */
export interface TensorCache {
  /** Bytes per block; 16 MiB unless the store says otherwise (`DEFAULT_BLOCK_SIZE`). */
  readonly blockSize: number;
  get(key: CacheKey, offset: number, length: number): Promise<Uint8Array | null>;
  put(key: CacheKey, offset: number, bytes: Uint8Array): Promise<void>;
  /** What is stored, one entry per file, for a "cached models" list with sizes and an evict button. */
  entries(): Promise<CacheEntry[]>;
  /** Forget every block of one file. */
  evict(key: CacheKey): Promise<void>;
}

/** One file at one commit. Two keys are the same file exactly when all four fields are equal. */
export interface CacheKey {
  /** The Hub endpoint, without a trailing slash (a mirror may serve other bytes under the same name). */
  hubUrl: string;
  /** `owner/name` */
  repo: string;
  /** The 40-hex commit the revision resolved to, never a branch name. */
  commit: string;
  /** Path inside the repository, `/`-separated. */
  path: string;
}

export interface CacheEntry {
  key: CacheKey;
  /** Bytes stored for this file (sum of its blocks). */
  bytes: number;
  blocks: number;
  /** When a block of it was last read or written (ms since the epoch), for least-recently-used eviction. */
  lastUsed: number;
}

export const DEFAULT_BLOCK_SIZE = 16 * 1024 * 1024;

/**
 * A stable string for a key (a map key, or an OPFS file name after hashing). JSON of an array keeps the four
 * fields apart even when they contain "/" or "@".
 */
export function cacheKeyId(key: CacheKey): string {
  return JSON.stringify([key.hubUrl, key.repo, key.commit, key.path]);
}
