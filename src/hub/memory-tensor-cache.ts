import { cacheKeyId, DEFAULT_BLOCK_SIZE, type CacheEntry, type CacheKey, type TensorCache } from './range-cache.ts';

interface FileBlocks {
  key: CacheKey;
  blocks: Map<number, Uint8Array>;
  bytes: number;
  lastUsed: number;
}

/**
 * A TensorCache in memory, for tests and for the Node CLI (several merges with different α in one process).
 * When `maxBytes` is exceeded, whole files are dropped, least recently used first.
 */
export class MemoryTensorCache implements TensorCache {
  readonly blockSize: number;
  private readonly maxBytes: number;
  private readonly files = new Map<string, FileBlocks>();
  private total = 0;
  private clock = 0;

  constructor(params: {
    /** Bytes per block (default 16 MiB). */
    blockSize?: number;
    /** Upper bound on stored bytes (default 2 GiB). */
    maxBytes?: number;
  } = {}) {
    this.blockSize = params.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.maxBytes = params.maxBytes ?? 2 * 1024 ** 3;
    if (!Number.isSafeInteger(this.blockSize) || this.blockSize <= 0) throw new RangeError(`blockSize must be a positive integer, not ${this.blockSize}`);
  }

  /** Bytes stored over all files. */
  get bytes(): number {
    return this.total;
  }

  async get(key: CacheKey, offset: number, length: number): Promise<Uint8Array | null> {
    const file = this.files.get(cacheKeyId(key));
    const block = file?.blocks.get(offset);
    if (!file || !block || block.length !== length) return null;
    file.lastUsed = this.tick();
    return block;
  }

  async put(key: CacheKey, offset: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.maxBytes) return;
    const id = cacheKeyId(key);
    let file = this.files.get(id);
    if (!file) this.files.set(id, (file = { key: { ...key }, blocks: new Map(), bytes: 0, lastUsed: 0 }));
    const old = file.blocks.get(offset);
    if (old) this.remove(file, offset, old);
    file.blocks.set(offset, bytes.slice());
    file.bytes += bytes.length;
    this.total += bytes.length;
    file.lastUsed = this.tick();
    this.shrink(id);
  }

  async entries(): Promise<CacheEntry[]> {
    return [...this.files.values()].map((f) => ({ key: { ...f.key }, bytes: f.bytes, blocks: f.blocks.size, lastUsed: f.lastUsed }));
  }

  async evict(key: CacheKey): Promise<void> {
    const id = cacheKeyId(key);
    const file = this.files.get(id);
    if (!file) return;
    this.total -= file.bytes;
    this.files.delete(id);
  }

  clear(): void {
    this.files.clear();
    this.total = 0;
  }

  private remove(file: FileBlocks, offset: number, block: Uint8Array): void {
    file.blocks.delete(offset);
    file.bytes -= block.length;
    this.total -= block.length;
  }

  /** Drop least recently used files (never `keep`, the one just written) until under the bound. */
  private shrink(keep: string): void {
    while (this.total > this.maxBytes) {
      let victim: string | null = null;
      let oldest = Infinity;
      for (const [id, f] of this.files) {
        if (id !== keep && f.lastUsed < oldest) {
          oldest = f.lastUsed;
          victim = id;
        }
      }
      if (victim === null) {
        // Only the file being written is left: drop its other blocks, oldest offsets first.
        const file = this.files.get(keep)!;
        const offset = file.blocks.keys().next().value!;
        this.remove(file, offset, file.blocks.get(offset)!);
        continue;
      }
      this.total -= this.files.get(victim)!.bytes;
      this.files.delete(victim);
    }
  }

  private tick(): number {
    // Date.now() is too coarse to order accesses within one millisecond.
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.clock;
  }
}
