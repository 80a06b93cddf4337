/** Random access to the bytes of one file, wherever it lives (disk, Blob, OPFS, HTTP). */
export interface ByteSource {
  /** Name shown in errors: a path or file name the user recognises. */
  readonly name: string;
  readonly size: number;
  /**
   * Read exactly `length` bytes at `offset`. When `into` is given the bytes land there (it must be at
   * least `length` long) and that view is returned; otherwise a new array is returned.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A folder of files: a model checkpoint on disk, a dropped folder, a Hub repo. */
export interface FileTree {
  /** Shown in errors and reports, e.g. the folder path or `owner/name@rev`. */
  readonly label: string;
  /** Relative paths of every file, with `/` separators. */
  list(): Promise<string[]>;
  open(path: string): Promise<ByteSource>;
}

export async function readText(tree: FileTree, path: string): Promise<string> {
  const src = await tree.open(path);
  try {
    return new TextDecoder().decode(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new RangeError(`${src.name}: read of ${length} bytes at ${offset} is outside the file (${src.size} bytes)`);
  }
}
