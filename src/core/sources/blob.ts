import { checkRange, type ByteSource, type FileTree } from './byte-source.ts';

/** A Blob or File (drag & drop, <input type=file>, fetched demo files) as a ByteSource. */
export class BlobSource implements ByteSource {
  readonly size: number;
  constructor(private readonly blob: Blob, readonly name: string) {
    this.size = blob.size;
  }
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const bytes = new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    if (!into) return bytes;
    into.set(bytes);
    return into.subarray(0, length);
  }
}

/** Files keyed by relative path, e.g. from a folder picker. */
export class BlobTree implements FileTree {
  constructor(readonly label: string, private readonly files: Map<string, Blob>) {}
  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }
  async open(path: string): Promise<ByteSource> {
    const blob = this.files.get(path);
    if (!blob) throw new Error(`${this.label}: no file "${path}"`);
    return new BlobSource(blob, `${this.label}/${path}`);
  }
}
