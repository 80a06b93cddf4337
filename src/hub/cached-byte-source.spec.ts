import { describe, expect, it } from 'vitest';
import type { ByteSource } from '../core/sources/byte-source.ts';
import { CachedByteSource } from './cached-byte-source.ts';
import { MemoryTensorCache } from './memory-tensor-cache.ts';
import type { CacheKey, TensorCache } from './range-cache.ts';

/** Bytes in memory, counting the reads that reach it. */
function countingSource(size: number) {
  const bytes = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 8)) & 255);
  const reads: [number, number][] = [];
  const source: ByteSource = {
    name: 'mem.bin',
    size,
    async read(offset, length, into) {
      reads.push([offset, length]);
      await new Promise((r) => setTimeout(r, 1));
      const out = into ? into.subarray(0, length) : new Uint8Array(length);
      out.set(bytes.subarray(offset, offset + length));
      return out;
    },
  };
  return { bytes, reads, source };
}

const key: CacheKey = { hubUrl: 'https://huggingface.co', repo: 'org/m', commit: 'a'.repeat(40), path: 'model.safetensors' };

describe('CachedByteSource', () => {
  it('reads whole aligned blocks once, then serves any chunking from the cache', async () => {
    const { bytes, reads, source } = countingSource(10_000);
    const cache = new MemoryTensorCache({ blockSize: 1024 });
    const cached = new CachedByteSource({ source, cache, key });
    for (let at = 0; at < 10_000; at += 700) {
      const n = Math.min(700, 10_000 - at);
      expect(Buffer.from(await cached.read(at, n)).equals(Buffer.from(bytes.subarray(at, at + n)))).toBe(true);
    }
    expect(reads.map(([o]) => o)).toEqual([0, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 9216]);
    expect(reads.at(-1)).toEqual([9216, 784]);

    reads.length = 0;
    const again = new CachedByteSource({ source, cache, key });
    const into = new Uint8Array(5000);
    for (const [at, n] of [[3, 4000], [9999, 1], [1023, 2], [0, 10_000]] as const) {
      const got = await again.read(at, n, n <= into.length ? into : undefined);
      expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(at, at + n)))).toBe(true);
      if (n <= into.length) expect(got.buffer).toBe(into.buffer);
    }
    expect(reads).toEqual([]);
    expect(await cache.entries()).toEqual([{ key, bytes: 10_000, blocks: 10, lastUsed: expect.any(Number) }]);
  });

  it('downloads a block wanted by several reads at once only once', async () => {
    const { reads, source } = countingSource(4096);
    const cached = new CachedByteSource({ source, cache: new MemoryTensorCache({ blockSize: 4096 }), key });
    await Promise.all([cached.read(0, 10), cached.read(100, 50), cached.read(4000, 96)]);
    expect(reads).toEqual([[0, 4096]]);
  });

  it('keeps other commits and files apart', async () => {
    const { reads, source } = countingSource(2048);
    const cache = new MemoryTensorCache({ blockSize: 1024 });
    await new CachedByteSource({ source, cache, key }).read(0, 2048);
    await new CachedByteSource({ source, cache, key: { ...key, commit: 'b'.repeat(40) } }).read(0, 10);
    await new CachedByteSource({ source, cache, key: { ...key, path: 'other.safetensors' } }).read(0, 10);
    expect(reads).toEqual([[0, 1024], [1024, 1024], [0, 1024], [0, 1024]]);
  });

  it('goes on without a cache that fails, and says so', async () => {
    const { bytes, source } = countingSource(3000);
    const errors: unknown[] = [];
    const broken: TensorCache = {
      blockSize: 1024,
      get: async () => {
        throw new Error('quota');
      },
      put: async () => {
        throw new Error('quota');
      },
      entries: async () => [],
      evict: async () => undefined,
    };
    const cached = new CachedByteSource({ source, cache: broken, key, onError: (e) => errors.push(e) });
    expect(Buffer.from(await cached.read(1000, 1500)).equals(Buffer.from(bytes.subarray(1000, 2500)))).toBe(true);
    expect(errors.length).toBe(6); // blocks 0, 1 and 2: a failed get and a failed put each
  });

  it('refuses reads outside the file', async () => {
    const cached = new CachedByteSource({ source: countingSource(100).source, cache: new MemoryTensorCache({ blockSize: 64 }), key });
    await expect(cached.read(90, 11)).rejects.toThrow('mem.bin: read of 11 bytes at 90 is outside the file (100 bytes)');
    expect((await cached.read(100, 0)).length).toBe(0);
  });
});

describe('MemoryTensorCache', () => {
  it('drops the least recently used files beyond maxBytes, and evicts on request', async () => {
    const cache = new MemoryTensorCache({ blockSize: 100, maxBytes: 250 });
    const k = (path: string) => ({ ...key, path });
    await cache.put(k('a'), 0, new Uint8Array(100));
    await cache.put(k('b'), 0, new Uint8Array(100));
    expect(await cache.get(k('a'), 0, 100)).not.toBeNull(); // a is now more recent than b
    await cache.put(k('c'), 0, new Uint8Array(100));
    expect((await cache.entries()).map((e) => e.key.path).sort()).toEqual(['a', 'c']);
    expect(cache.bytes).toBe(200);
    expect(await cache.get(k('a'), 0, 99)).toBeNull(); // only whole blocks are returned
    await cache.evict(k('a'));
    expect(await cache.get(k('a'), 0, 100)).toBeNull();
    expect(cache.bytes).toBe(100);
  });

  it('stores a copy of what it is given', async () => {
    const cache = new MemoryTensorCache({ blockSize: 4 });
    const block = new Uint8Array([1, 2, 3, 4]);
    await cache.put(key, 0, block);
    block[0] = 9;
    expect([...(await cache.get(key, 0, 4))!]).toEqual([1, 2, 3, 4]);
  });
});
