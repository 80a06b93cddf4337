import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { checkRange, type ByteSource, type FileTree } from './byte-source.ts';

/** A file on disk, read with positional reads (no whole-file buffering). */
export class NodeFileSource implements ByteSource {
  private constructor(private readonly fh: FileHandle, readonly name: string, readonly size: number) {}
  static async open(path: string): Promise<NodeFileSource> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    return new NodeFileSource(fh, path, st.size);
  }
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const buf = into ? into.subarray(0, length) : new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`${this.name}: file ended at ${offset + done} while reading ${length} bytes at ${offset}; was it changed while being read?`);
      done += bytesRead;
    }
    return buf;
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A model folder on disk. */
export class NodeFileTree implements FileTree {
  constructor(readonly root: string) {}
  get label(): string {
    return this.root;
  }
  async list(): Promise<string[]> {
    const st = await stat(this.root).catch(() => null);
    if (!st) throw new Error(`${this.root}: no such folder`);
    if (!st.isDirectory()) throw new Error(`${this.root}: not a folder; give the folder that holds config.json and the *.safetensors files`);
    const out: string[] = [];
    const walk = async (dir: string, depth: number) => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        const p = join(dir, e.name);
        if (e.isDirectory() && depth < 2) await walk(p, depth + 1);
        else if (e.isFile()) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(this.root, 0);
    return out.sort();
  }
  async open(path: string): Promise<ByteSource> {
    return NodeFileSource.open(join(this.root, path));
  }
}
