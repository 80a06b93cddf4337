/**
 * Getting a merged model out of the browser, from the page (OPFS is readable here too): into a folder the person
 * picks (File System Access), file by file as downloads, or as one .zip. Everything streams from the OPFS files;
 * nothing holds a whole model in memory.
 */
import { makeZip } from 'client-zip';
import { ChatvecError } from '../../core/errors.ts';
import type { LibraryEntry } from '../../../workers/contract.ts';
import { directoryPicker } from '../slots/sources.ts';

/** Same folder names as the worker's library (workers/library.ts). */
const LIBRARY_DIR = 'library';
/** Zips are streamed into this OPFS folder first, then downloaded from there; it is emptied before each export. */
const EXPORTS_DIR = 'exports';

async function modelFolder(id: string): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return (await root.getDirectoryHandle(LIBRARY_DIR)).getDirectoryHandle(id);
}

async function modelFiles(entry: LibraryEntry): Promise<File[]> {
  const folder = await modelFolder(entry.id);
  return Promise.all(entry.files.map(async (f) => (await folder.getFileHandle(f.name)).getFile()));
}

/** A name usable as a folder or file name on every desktop OS. */
export function exportName(entry: LibraryEntry): string {
  return entry.name.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '-').replace(/^[.\s]+|[.\s]+$/g, '') || entry.id;
}

/** Start a download of a Blob (an OPFS File is one: the browser reads it from disk). */
function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own reference to the file by now; the URL only has to outlive the click.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function downloadFile(entry: LibraryEntry, name: string): Promise<void> {
  const folder = await modelFolder(entry.id);
  download(await (await folder.getFileHandle(name)).getFile(), name);
}

/** Whether "Save to folder" can work in this browser (Chromium's showDirectoryPicker). */
export const canSaveToFolder = () => directoryPicker() !== null;

/** Copy every file of the model into a new folder (named after the model) inside one the person picks. */
export async function saveToFolder(entry: LibraryEntry, onFile: (done: number, total: number) => void): Promise<string> {
  const pick = directoryPicker();
  if (!pick) throw new ChatvecError('this browser cannot write to a folder', { code: 'no-folder-access', hint: 'Download the files one by one or as a .zip instead' });
  const parent = await pick({ id: 'chatvec-export', mode: 'readwrite' });
  const target = await parent.getDirectoryHandle(exportName(entry), { create: true });
  const files = await modelFiles(entry);
  for (let i = 0; i < files.length; i++) {
    onFile(i, files.length);
    const writable = await (await target.getFileHandle(files[i].name, { create: true })).createWritable();
    await files[i].stream().pipeTo(writable);
  }
  onFile(files.length, files.length);
  return `${parent.name}/${target.name}`;
}

/**
 * A .zip of the model (stored, not compressed: weights do not compress), streamed by client-zip into a
 * temporary OPFS file and downloaded from there, so memory stays flat. Where OPFS files cannot be written from
 * a page, the zip is collected into a Blob instead (the browser may keep a large Blob on disk).
 */
export async function downloadZip(entry: LibraryEntry): Promise<void> {
  const name = exportName(entry);
  const files = await modelFiles(entry);
  const zip = () => makeZip(files.map((file) => ({ input: file, name: `${name}/${file.name}`, lastModified: new Date(entry.createdAt), size: file.size })));
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(EXPORTS_DIR, { recursive: true }).catch(() => undefined);
  const exportsDir = await root.getDirectoryHandle(EXPORTS_DIR, { create: true });
  const handle = await exportsDir.getFileHandle(`${name}.zip`, { create: true });
  if (typeof handle.createWritable !== 'function') {
    download(await new Response(zip()).blob(), `${name}.zip`);
    return;
  }
  try {
    await zip().pipeTo(await handle.createWritable());
  } catch (e) {
    await root.removeEntry(EXPORTS_DIR, { recursive: true }).catch(() => undefined);
    if ((e as { name?: string }).name === 'QuotaExceededError') {
      throw new ChatvecError('not enough browser storage to build the .zip next to the model', { code: 'quota-exceeded', file: `${name}.zip`, hint: 'Use "Save to folder" or download the files one by one' });
    }
    throw e;
  }
  download(await handle.getFile(), `${name}.zip`);
}

/** Remove zips left by earlier exports (their downloads are long finished). */
export async function clearExports(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(EXPORTS_DIR, { recursive: true }).catch(() => undefined);
}
