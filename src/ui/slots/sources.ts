/**
 * Turning what a person picks or drops into a SourceSpec for the worker, and back into words.
 * Nothing here reads file contents: the worker reads headers and config.json only.
 */
import type { SourceSpec } from '../../../workers/contract.ts';
import { parseHubRef, type HubRef } from '../../hub/parse-ref.ts';

/** A source as it is remembered across reloads: local folders only by name, since their files cannot be kept. */
export type RememberedSource =
  | { kind: 'demo'; role: 'base' | 'chat' | 'cp' }
  | { kind: 'hub'; repo: string; revision?: string; hubUrl: string }
  | { kind: 'library'; id: string }
  | { kind: 'folder'; name: string };

export const DEMO_ROLES = ['base', 'chat', 'cp'] as const;
export type DemoRole = (typeof DEMO_ROLES)[number];

/** Folders below the model folder that are searched (as the worker's directory tree does). */
const MAX_SUBFOLDERS = 2;

export function rememberSource(spec: SourceSpec): RememberedSource {
  switch (spec.kind) {
    case 'demo':
      return { kind: 'demo', role: spec.role };
    case 'hub':
      return { kind: 'hub', repo: spec.repo, ...(spec.revision ? { revision: spec.revision } : {}), hubUrl: spec.hubUrl };
    case 'library':
      return { kind: 'library', id: spec.id };
    case 'files':
      return { kind: 'folder', name: spec.name };
    case 'directory':
      return { kind: 'folder', name: spec.handle.name };
  }
}

/** A source that can be loaded again without the person choosing files; the Hub token is added by the caller. */
export function restorableSpec(source: RememberedSource, accessToken?: string): SourceSpec | null {
  switch (source.kind) {
    case 'demo':
    case 'library':
      return source;
    case 'hub':
      return { ...source, ...(accessToken ? { accessToken } : {}) };
    case 'folder':
      return null;
  }
}

/** The source a recipe reference names when it is one the studio can load by itself (demo and library models). */
export function specForRef(ref: string): SourceSpec | null {
  const demo = /^demo\/(base|chat|cp)$/.exec(ref);
  if (demo) return { kind: 'demo', role: demo[1] as DemoRole };
  const library = /^library\/([^/]+)$/.exec(ref);
  if (library) return { kind: 'library', id: library[1] };
  return null;
}

/** A Hub id in a recipe reference (`owner/name` or `owner/name@revision`), for pre-filling the Hub form. */
export function hubRefParts(ref: string): HubRef | null {
  if (/^(demo|local|library)\//.test(ref)) return null;
  try {
    return parseHubRef(ref);
  } catch {
    return null;
  }
}

export function describeSource(source: RememberedSource): string {
  switch (source.kind) {
    case 'demo':
      return `built-in demo model (${source.role})`;
    case 'hub':
      return `Hub ${source.repo}${source.revision ? `@${source.revision}` : ''}${source.hubUrl === 'https://huggingface.co' ? '' : ` on ${source.hubUrl}`}`;
    case 'library':
      return `library model ${source.id}`;
    case 'folder':
      return `local folder ${source.name}`;
  }
}

/** A folder's files with their paths relative to the folder; hidden entries and deep subfolders are left out. */
export function folderSpec(name: string, entries: { file: File; path: string }[]): SourceSpec {
  const kept = entries.filter(({ path }) => {
    const parts = path.split('/');
    return parts.length - 1 <= MAX_SUBFOLDERS && !parts.some((p) => p.startsWith('.') || p === '');
  });
  if (kept.length === 0) throw new Error(`The folder "${name}" has no files. Choose the folder that holds config.json and the *.safetensors files.`);
  kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { kind: 'files', name, files: kept.map((e) => e.file), paths: kept.map((e) => e.path) };
}

/** Files from `<input type=file webkitdirectory>`: `webkitRelativePath` is `folder/sub/file`; the model folder is its first part. */
export function specFromFolderInput(files: File[]): SourceSpec {
  if (files.length === 0) throw new Error('No files were chosen.');
  // Empty (or missing outside browsers) when the files were chosen without their folder.
  const relative = (f: File) => f.webkitRelativePath ?? '';
  if (!files.every((f) => relative(f).includes('/'))) return folderSpec(LOOSE_FILES, files.map((file) => ({ file, path: file.name })));
  const top = new Set(files.map((f) => relative(f).split('/')[0]));
  if (top.size !== 1) throw new Error(`Choose one model folder, not ${top.size}.`);
  const [name] = top;
  return folderSpec(name, files.map((file) => ({ file, path: relative(file).slice(name.length + 1) })));
}

/** Name of a model made of loose files (dropped or chosen without their folder). */
export const LOOSE_FILES = 'dropped files';

// --- drag & drop -------------------------------------------------------------------------------------

/** File System Access additions that TypeScript's DOM library does not declare everywhere. */
interface HandleItem {
  getAsFileSystemHandle?: () => Promise<FileSystemHandle | null>;
}

/**
 * The source for a drop: one folder (as a directory handle where the browser gives one, else its files walked
 * through webkitGetAsEntry), or loose files. Must be called inside the drop event: the items are gone after it.
 */
export function specFromDrop(data: DataTransfer): Promise<SourceSpec> {
  const items = [...data.items].filter((i) => i.kind === 'file');
  // Both are read synchronously, before the first await, while the drop data is still there.
  const handles = items.map((i) => (i as DataTransferItem & HandleItem).getAsFileSystemHandle?.() ?? null);
  const entries = items.map((i) => i.webkitGetAsEntry?.() ?? null);
  const files = [...data.files];
  return resolveDrop(handles, entries, files);
}

async function resolveDrop(handlePromises: (Promise<FileSystemHandle | null> | null)[], entries: (FileSystemEntry | null)[], files: File[]): Promise<SourceSpec> {
  // Handles where the browser gives them (Chromium); a drop it made itself, or one from elsewhere, may have none.
  const handles = handlePromises.length > 0 && handlePromises.every((h) => h !== null) ? await Promise.all(handlePromises.map((h) => h!.catch(() => null))) : [];
  if (handles.length > 0 && handles.every((h): h is FileSystemHandle => h != null)) {
    const dirs = handles.filter((h) => h.kind === 'directory') as FileSystemDirectoryHandle[];
    if (dirs.length === 1 && handles.length === 1) return { kind: 'directory', handle: dirs[0] };
    if (dirs.length > 0) throw new Error(`Drop one model folder, not ${dirs.length} folders${handles.length > dirs.length ? ' and files' : ''}.`);
    const dropped = await Promise.all((handles as FileSystemFileHandle[]).map((h) => h.getFile()));
    return folderSpec(LOOSE_FILES, dropped.map((file) => ({ file, path: file.name })));
  }
  const dirs = entries.filter((e): e is FileSystemDirectoryEntry => e?.isDirectory === true);
  if (dirs.length > 1 || (dirs.length === 1 && entries.length > 1)) throw new Error('Drop one model folder at a time.');
  if (dirs.length === 1) return folderSpec(dirs[0].name, await walkEntry(dirs[0], '', 0));
  if (files.length === 0) throw new Error('Nothing to load in what was dropped: drop a model folder or its files.');
  return folderSpec(LOOSE_FILES, files.map((file) => ({ file, path: file.name })));
}

async function walkEntry(dir: FileSystemDirectoryEntry, prefix: string, depth: number): Promise<{ file: File; path: string }[]> {
  const out: { file: File; path: string }[] = [];
  for (const entry of await readAllEntries(dir)) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory) {
      if (depth < MAX_SUBFOLDERS) out.push(...(await walkEntry(entry as FileSystemDirectoryEntry, `${prefix}${entry.name}/`, depth + 1)));
    } else {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ file, path: `${prefix}${entry.name}` });
    }
  }
  return out;
}

/** readEntries answers in batches (about 100 in Chromium) until it answers an empty one. */
async function readAllEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

// --- folder picker -----------------------------------------------------------------------------------

type DirectoryPicker = (options?: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

/** showDirectoryPicker where the browser has it (Chromium); elsewhere the page falls back to <input webkitdirectory>. */
export function directoryPicker(): DirectoryPicker | null {
  const picker = (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof picker === 'function' ? picker.bind(globalThis) : null;
}

/** A picker the person closed is not an error. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}
