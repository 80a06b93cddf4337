import { describe, expect, it } from 'vitest';
import { BlobTree } from './blob.ts';
import { RemoteTree, treeReader, type TreeReader } from './remote-tree.ts';

const tree = new BlobTree('local/cp', new Map([['config.json', new Blob(['{"a":1}'])], ['model.safetensors', new Blob([new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])])]]));

describe('RemoteTree over treeReader', () => {
  it('lists and reads the files of the ref it is named after', async () => {
    let opens = 0;
    const reader = treeReader((ref) => {
      expect(ref).toBe('local/cp');
      opens++;
      return tree;
    });
    const remote = new RemoteTree('local/cp', reader);
    expect(await remote.list()).toEqual(['config.json', 'model.safetensors']);
    const src = await remote.open('model.safetensors');
    expect(src.name).toBe('local/cp/model.safetensors');
    expect(src.size).toBe(10);
    expect(Array.from(await src.read(2, 3))).toEqual([2, 3, 4]);
    const into = new Uint8Array(8).fill(99);
    expect(Array.from(await src.read(7, 3, into))).toEqual([7, 8, 9]);
    expect(Array.from(into)).toEqual([7, 8, 9, 99, 99, 99, 99, 99]);
    // One tree lookup for the listing, one per file opened: reads reuse the open file.
    await src.read(0, 1);
    expect(opens).toBe(2);
  });

  it('refuses reads outside the file before asking, and a short answer', async () => {
    const asked: number[] = [];
    const short: TreeReader = { list: async () => [], size: async () => 10, read: async (_r, _p, offset, length) => (asked.push(offset), new Uint8Array(length - 1)) };
    const src = await new RemoteTree('hub/x', short).open('model.safetensors');
    await expect(src.read(8, 3)).rejects.toThrow('hub/x/model.safetensors: read of 3 bytes at 8 is outside the file (10 bytes)');
    expect(asked).toEqual([]);
    await expect(src.read(0, 4)).rejects.toThrow('hub/x/model.safetensors: asked for 4 bytes at 0, got 3');
  });

  it('passes on a missing file', async () => {
    await expect(new RemoteTree('local/cp', treeReader(() => tree)).open('nope.json')).rejects.toThrow('local/cp: no file "nope.json"');
  });
});
