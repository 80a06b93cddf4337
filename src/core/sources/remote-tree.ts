import { checkRange, type ByteSource, type FileTree } from './byte-source.ts';

/**
 * Files that live somewhere else (another worker holding the user's folder or Hub repository), reached
 * through three calls. The preview worker reads the recipe's models from the studio worker this way.
 */
export interface TreeReader {
  list(ref: string): Promise<string[]>;
  size(ref: string, path: string): Promise<number>;
  read(ref: string, path: string, offset: number, length: number): Promise<Uint8Array>;
}

/** The model `ref` of a TreeReader as a FileTree; its label is the ref, as recipes name it. */
export class RemoteTree implements FileTree {
  constructor(readonly label: string, private readonly reader: TreeReader) {}
  list(): Promise<string[]> {
    return this.reader.list(this.label);
  }
  async open(path: string): Promise<ByteSource> {
    const { reader, label: ref } = this;
    const size = await reader.size(ref, path);
    const name = `${ref}/${path}`;
    return {
      name,
      size,
      async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
        checkRange({ name, size }, offset, length);
        const bytes = await reader.read(ref, path, offset, length);
        if (bytes.length !== length) throw new Error(`${name}: asked for ${length} bytes at ${offset}, got ${bytes.length}`);
        if (!into) return bytes;
        into.set(bytes);
        return into.subarray(0, length);
      },
    };
  }
}

/** A TreeReader over FileTrees found by ref (the serving side); files stay open between reads. */
export function treeReader(treeOf: (ref: string) => Promise<FileTree> | FileTree): TreeReader {
  const open = new Map<string, Promise<ByteSource>>();
  const source = (ref: string, path: string) => {
    const key = JSON.stringify([ref, path]);
    let p = open.get(key);
    if (!p) {
      p = Promise.resolve(treeOf(ref)).then((tree) => tree.open(path));
      p.catch(() => open.delete(key));
      open.set(key, p);
    }
    return p;
  };
  return {
    list: async (ref) => (await treeOf(ref)).list(),
    size: async (ref, path) => (await source(ref, path)).size,
    read: async (ref, path, offset, length) => (await source(ref, path)).read(offset, length),
  };
}
