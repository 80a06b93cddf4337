import type { ByteSource, FileTree } from './byte-source.ts';
import { BlobSource } from './blob.ts';

/** A folder from the File System Access API (showDirectoryPicker) or an OPFS directory, read through File blobs. */
export class DirectoryHandleTree implements FileTree {
  constructor(readonly label: string, private readonly dir: FileSystemDirectoryHandle, private readonly maxDepth = 2) {}

  async list(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: FileSystemDirectoryHandle, prefix: string, depth: number) => {
      // entries() is missing from TypeScript's DOM lib in some versions; it exists in every browser with this API.
      for await (const [name, handle] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        if (name.startsWith('.')) continue;
        if (handle.kind === 'directory') {
          if (depth < this.maxDepth) await walk(handle as FileSystemDirectoryHandle, `${prefix}${name}/`, depth + 1);
        } else out.push(`${prefix}${name}`);
      }
    };
    await walk(this.dir, '', 0);
    return out.sort();
  }

  async open(path: string): Promise<ByteSource> {
    const parts = path.split('/');
    let dir = this.dir;
    for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
    const file = await (await dir.getFileHandle(parts[parts.length - 1])).getFile();
    return new BlobSource(file, `${this.label}/${path}`);
  }
}
