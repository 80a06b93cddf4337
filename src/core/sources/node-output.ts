import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputFolder, OutputWriter } from '../merge/output-folder.ts';
import { NodeFileSource } from './node-fs.ts';

/** An output folder on disk. */
export class NodeOutputFolder implements OutputFolder {
  constructor(readonly root: string) {}
  get label(): string {
    return this.root;
  }
  async ensure(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.root)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
  async size(name: string): Promise<number | null> {
    try {
      return (await stat(join(this.root, name))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
  async openWriter(name: string, keepBytes = 0): Promise<OutputWriter> {
    await this.ensure();
    const path = join(this.root, name);
    const fh = await open(path, keepBytes > 0 ? 'r+' : 'w');
    if (keepBytes > 0) await fh.truncate(keepBytes);
    return {
      async write(bytes, position) {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
          done += bytesWritten;
        }
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  }
  open(name: string) {
    return NodeFileSource.open(join(this.root, name));
  }
  async rename(from: string, to: string): Promise<void> {
    await rename(join(this.root, from), join(this.root, to));
  }
  async remove(name: string): Promise<void> {
    await rm(join(this.root, name), { force: true });
  }
}
