/**
 * An in-memory origin private file system for unit tests in Node: the parts of FileSystemDirectoryHandle,
 * FileSystemFileHandle and FileSystemSyncAccessHandle the studio uses, with Chromium's behaviour where it
 * matters (one sync handle per file, `move` replaces an existing file, a quota that makes writes throw
 * QuotaExceededError). The e2e tests run the same code against the real OPFS.
 */

export class FakeStorage {
  /** Bytes the writes may take in all; `estimate()` reports it unless `reportedQuota` says otherwise. */
  quota = 10 * 1024 ** 3;
  /** What `estimate()` claims the quota is (to let a merge start that then runs out mid-write). */
  reportedQuota: number | null = null;
  persistedFlag = false;
  /** Called after every write through a sync access handle (tests cancel or fail a merge midway with it). */
  onWrite: ((file: string) => void) | null = null;
  readonly root = new FakeDirectory('', this, null);

  get usage(): number {
    return this.root.bytes();
  }

  async estimate(): Promise<{ usage: number; quota: number }> {
    return { usage: this.usage, quota: this.reportedQuota ?? this.quota };
  }
}

const domError = (name: string, message: string) => new DOMException(message, name);

type Entry = FakeDirectory | FakeFile;

export class FakeDirectory {
  readonly kind = 'directory';
  readonly children = new Map<string, Entry>();
  constructor(public name: string, private readonly storage: FakeStorage, public parent: FakeDirectory | null) {}

  bytes(): number {
    let n = 0;
    for (const c of this.children.values()) n += c instanceof FakeFile ? c.data.length : c.bytes();
    return n;
  }

  async getDirectoryHandle(name: string, opts: { create?: boolean } = {}): Promise<FakeDirectory> {
    const e = this.children.get(name);
    if (e instanceof FakeDirectory) return e;
    if (e) throw domError('TypeMismatchError', `${name} is a file`);
    if (!opts.create) throw domError('NotFoundError', `${name} not found`);
    const dir = new FakeDirectory(name, this.storage, this);
    this.children.set(name, dir);
    return dir;
  }

  async getFileHandle(name: string, opts: { create?: boolean } = {}): Promise<FakeFile> {
    const e = this.children.get(name);
    if (e instanceof FakeFile) return e;
    if (e) throw domError('TypeMismatchError', `${name} is a directory`);
    if (!opts.create) throw domError('NotFoundError', `${name} not found`);
    const file = new FakeFile(name, this.storage, this);
    this.children.set(name, file);
    return file;
  }

  async removeEntry(name: string, opts: { recursive?: boolean } = {}): Promise<void> {
    const e = this.children.get(name);
    if (!e) throw domError('NotFoundError', `${name} not found`);
    if (e instanceof FakeDirectory && e.children.size && !opts.recursive) throw domError('InvalidModificationError', `${name} is not empty`);
    this.children.delete(name);
  }

  async *entries(): AsyncGenerator<[string, Entry]> {
    for (const [name, e] of [...this.children]) yield [name, e];
  }

  /** Every file below this folder by relative path, for assertions. */
  paths(prefix = ''): string[] {
    return [...this.children].flatMap(([name, e]) => (e instanceof FakeFile ? [`${prefix}${name}`] : e.paths(`${prefix}${name}/`))).sort();
  }
}

export class FakeFile {
  readonly kind = 'file';
  data = new Uint8Array(0);
  locked = false;
  constructor(public name: string, private readonly storage: FakeStorage, public parent: FakeDirectory) {}

  async getFile(): Promise<File> {
    return new File([this.data.slice()], this.name);
  }

  async move(newName: string): Promise<void> {
    if (this.locked) throw domError('NoModificationAllowedError', `${this.name} is open`);
    this.parent.children.delete(this.name);
    this.parent.children.set(newName, this);
    this.name = newName;
  }

  async createSyncAccessHandle() {
    if (this.locked) throw domError('NoModificationAllowedError', `${this.name} already has an open access handle`);
    this.locked = true;
    const file = this;
    const storage = this.storage;
    const resize = (size: number) => {
      if (size > file.data.length && storage.usage + (size - file.data.length) > storage.quota) throw domError('QuotaExceededError', 'quota exceeded');
      const next = new Uint8Array(size);
      next.set(file.data.subarray(0, Math.min(size, file.data.length)));
      file.data = next;
    };
    return {
      write(buf: Uint8Array, opts: { at: number }): number {
        if (!file.locked) throw domError('InvalidStateError', 'closed');
        if (opts.at + buf.length > file.data.length) resize(opts.at + buf.length);
        file.data.set(buf, opts.at);
        storage.onWrite?.(file.name);
        return buf.length;
      },
      truncate(size: number) {
        resize(size);
      },
      getSize: () => file.data.length,
      flush() {},
      close() {
        file.locked = false;
      },
    };
  }
}
