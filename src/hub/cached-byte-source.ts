import { checkRange, type ByteSource } from '../core/sources/byte-source.ts';
import type { CacheKey, TensorCache } from './range-cache.ts';

/**
 * A ByteSource that reads whole aligned blocks of `source` through `cache`, so that reading the same file again
 * (a second merge with another α) downloads nothing, whatever the chunk boundaries of either read.
 * A block wanted by two reads at once is fetched once. Small reads fill their whole block too: for work that
 * only needs headers (planning), open the files without a cache.
 */
export class CachedByteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly source: ByteSource;
  private readonly cache: TensorCache;
  private readonly key: CacheKey;
  private readonly onError?: (e: unknown) => void;
  private readonly inFlight = new Map<number, Promise<Uint8Array>>();

  constructor(params: {
    /** Where missing blocks come from. */
    source: ByteSource;
    cache: TensorCache;
    /** Identifies the file's bytes for good (see CacheKey). */
    key: CacheKey;
    /** Told about a cache that failed to read or store a block (the read goes on without it). */
    onError?: (e: unknown) => void;
  }) {
    this.source = params.source;
    this.cache = params.cache;
    this.key = params.key;
    this.onError = params.onError;
    this.name = params.source.name;
    this.size = params.source.size;
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const out = into ? into.subarray(0, length) : new Uint8Array(length);
    if (length === 0) return out;
    const bs = this.cache.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const copies: Promise<void>[] = [];
    for (let b = first; b <= last; b++) {
      copies.push(
        this.block(b).then((bytes) => {
          const blockStart = b * bs;
          const from = Math.max(offset, blockStart);
          const to = Math.min(offset + length, blockStart + bytes.length);
          out.set(bytes.subarray(from - blockStart, to - blockStart), from - offset);
        }),
      );
    }
    await Promise.all(copies);
    return out;
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }

  /** Block `b` from the cache, or downloaded and stored; one download per block however many reads want it. */
  private block(b: number): Promise<Uint8Array> {
    let pending = this.inFlight.get(b);
    if (!pending) {
      pending = this.fetchBlock(b).finally(() => this.inFlight.delete(b));
      this.inFlight.set(b, pending);
    }
    return pending;
  }

  private async fetchBlock(b: number): Promise<Uint8Array> {
    const offset = b * this.cache.blockSize;
    const length = Math.min(this.cache.blockSize, this.size - offset);
    const hit = await this.cache.get(this.key, offset, length).catch((e) => {
      this.onError?.(e);
      return null;
    });
    if (hit && hit.length === length) return hit;
    const bytes = await this.source.read(offset, length);
    await this.cache.put(this.key, offset, bytes).catch((e) => this.onError?.(e));
    return bytes;
  }
}
