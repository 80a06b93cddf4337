import type { ByteSource } from '../sources/byte-source.ts';

/** Positional writes into one output file. */
export interface OutputWriter {
  write(bytes: Uint8Array, position: number): Promise<void>;
  /** Make everything written so far durable (fsync / flush). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Where a merge writes: a folder on disk, an OPFS directory. Only names directly inside it are used. */
export interface OutputFolder {
  readonly label: string;
  list(): Promise<string[]>;
  /** Size in bytes, or null when there is no such file. */
  size(name: string): Promise<number | null>;
  /** Open for writing; existing content is kept up to `keepBytes` (default 0: truncated). */
  openWriter(name: string, keepBytes?: number): Promise<OutputWriter>;
  open(name: string): Promise<ByteSource>;
  /** Atomically replace `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  remove(name: string): Promise<void>;
}

/** Write a whole small file under a temporary name, then rename it into place. */
export async function writeFileAtomic(out: OutputFolder, name: string, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const tmp = `${name}.partial`;
  const w = await out.openWriter(tmp);
  try {
    await w.write(data, 0);
    await w.sync();
  } finally {
    await w.close();
  }
  await out.rename(tmp, name);
}

export async function readWholeFile(out: OutputFolder, name: string): Promise<Uint8Array | null> {
  if ((await out.size(name)) === null) return null;
  const src = await out.open(name);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
}
