import { ChatvecError } from '../errors.ts';
import type { OutputFolder, OutputWriter } from '../merge/output-folder.ts';
import { BlobSource } from './blob.ts';
import type { ByteSource } from './byte-source.ts';

/** The part of FileSystemFileHandle.move that Chromium, Firefox and Safari ship (missing from TypeScript's DOM lib). */
interface MovableFileHandle extends FileSystemFileHandle {
  move(newName: string): Promise<void>;
}

/** Entries of a directory handle; `entries()` is missing from some versions of TypeScript's DOM lib. */
export async function* directoryEntries(dir: FileSystemDirectoryHandle): AsyncGenerator<[string, FileSystemHandle]> {
  yield* (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();
}

const isDomError = (e: unknown, name: string) => typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;

/** How long to wait for a file's previous sync access handle to go away (a worker killed by a reload releases it a moment later). */
const LOCK_WAIT_MS = 3000;

/**
 * An OPFS directory as a merge output folder, for dedicated workers: positional writes through
 * `createSyncAccessHandle` (one open handle per file), reads through `getFile()`, renames through `move()`.
 */
export class OpfsOutputFolder implements OutputFolder {
  constructor(
    readonly label: string,
    readonly dir: FileSystemDirectoryHandle,
    /** Names the merge must not see (e.g. the studio's own entry file kept beside the model). */
    private readonly hidden: readonly string[] = [],
  ) {}

  async list(): Promise<string[]> {
    const names: string[] = [];
    for await (const [name, handle] of directoryEntries(this.dir)) {
      if (handle.kind === 'file' && !this.hidden.includes(name)) names.push(name);
    }
    return names.sort();
  }

  async size(name: string): Promise<number | null> {
    const fh = await this.fileHandle(name);
    return fh ? (await fh.getFile()).size : null;
  }

  /** Names opened for writing so far (so a caller can tell whether a merge wrote anything). */
  readonly opened = new Set<string>();

  async openWriter(name: string, keepBytes = 0): Promise<OutputWriter> {
    this.opened.add(name);
    const file = `${this.label}/${name}`;
    const fh = await this.dir.getFileHandle(name, { create: true }).catch((e: unknown) => {
      throw storageError(e, file);
    });
    const handle = await openSyncHandle(fh, file);
    try {
      handle.truncate(keepBytes);
    } catch (e) {
      handle.close();
      throw storageError(e, file);
    }
    return {
      async write(bytes, position) {
        try {
          let done = 0;
          while (done < bytes.length) {
            const n = handle.write(bytes.subarray(done), { at: position + done });
            if (n <= 0) throw new ChatvecError('the browser storage accepted no more bytes', { code: 'write-stalled', file, hint: 'Free browser storage and try again' });
            done += n;
          }
        } catch (e) {
          throw storageError(e, file);
        }
      },
      async sync() {
        try {
          handle.flush();
        } catch (e) {
          throw storageError(e, file);
        }
      },
      async close() {
        handle.close();
      },
    };
  }

  async open(name: string): Promise<ByteSource> {
    const fh = await this.fileHandle(name);
    if (!fh) throw new ChatvecError('file not found in browser storage', { code: 'opfs-missing', file: `${this.label}/${name}` });
    return new BlobSource(await fh.getFile(), `${this.label}/${name}`);
  }

  async rename(from: string, to: string): Promise<void> {
    const fh = (await this.dir.getFileHandle(from)) as MovableFileHandle;
    try {
      try {
        // Chromium (and the spec) replace an existing `to` atomically.
        await fh.move(to);
      } catch (e) {
        // Browsers that refuse to overwrite: remove the target, then move.
        if (!isDomError(e, 'InvalidModificationError') && !isDomError(e, 'NoModificationAllowedError')) throw e;
        await this.remove(to);
        await fh.move(to);
      }
    } catch (e) {
      throw storageError(e, `${this.label}/${to}`);
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.dir.removeEntry(name);
    } catch (e) {
      if (!isDomError(e, 'NotFoundError')) throw e;
    }
  }

  private async fileHandle(name: string): Promise<FileSystemFileHandle | null> {
    try {
      return await this.dir.getFileHandle(name);
    } catch (e) {
      if (isDomError(e, 'NotFoundError') || isDomError(e, 'TypeMismatchError')) return null;
      throw e;
    }
  }
}

/** A sync access handle, waiting a little for one still held by a worker that was just terminated. */
async function openSyncHandle(fh: FileSystemFileHandle, file: string): Promise<FileSystemSyncAccessHandle> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return await fh.createSyncAccessHandle();
    } catch (e) {
      if (!isDomError(e, 'NoModificationAllowedError') || Date.now() > deadline) {
        if (isDomError(e, 'NoModificationAllowedError')) {
          throw new ChatvecError('the file is open elsewhere', { code: 'opfs-locked', file, hint: 'Close other tabs of the studio, then try again' });
        }
        throw storageError(e, file);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A quota error from the storage layer (or one converted before), as something a person can act on; `details` add what the caller knows. */
export function storageError(e: unknown, file: string, details: { expected?: string; found?: string } = {}): unknown {
  const converted = e instanceof ChatvecError && e.code === 'quota-exceeded';
  if (isDomError(e, 'QuotaExceededError') || converted) {
    return new ChatvecError('the browser storage quota ran out while writing', {
      code: 'quota-exceeded',
      file: (converted && e.details.file) || file,
      ...details,
      hint: 'Delete merged models from the library or evict Hub cache entries, let the site keep its data (persist), then merge again',
    });
  }
  return e;
}
