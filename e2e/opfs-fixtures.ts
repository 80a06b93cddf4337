/**
 * Shared by e2e/merge.spec.ts and e2e/library.spec.ts: a persistent Chromium profile per test (so OPFS lives on
 * disk, as for a person), readers of the OPFS library from the page, and the CLI's merge of the demo triplet.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, expect, test as base, type BrowserContext, type Page } from '@playwright/test';
import config from '../playwright.config.ts';

export const test = base.extend<{ context: BrowserContext; page: Page; pageErrors: string[] }>({
  // A fresh user-data-dir per test: OPFS, IndexedDB and quota start empty and are real files.
  context: async ({}, use) => {
    const profile = mkdtempSync(join(tmpdir(), 'chatvec-profile-'));
    const context = await chromium.launchPersistentContext(profile, {
      ...config.use?.launchOptions,
      headless: true,
      baseURL: config.use?.baseURL,
      viewport: { width: 1200, height: 900 },
      acceptDownloads: true,
    });
    await use(context);
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  },
  pageErrors: async ({}, use) => {
    await use([]);
  },
  page: async ({ context, pageErrors }, use) => {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await use(page);
    expect(pageErrors).toEqual([]);
  },
});
export { expect };

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Open the studio (demo models load by themselves) and wait for the plan. */
export async function openStudio(page: Page, query = ''): Promise<void> {
  await page.goto(`/${query}`);
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
}

/** Set the first chat vector's α and wait until the report is planned for it. */
export async function setAlpha(page: Page, alpha: string): Promise<void> {
  await page.getByTestId('vector-0').getByTestId('alpha').fill(alpha);
  await expect(page.getByTestId('report-recipe')).toContainText(`α = ${alpha}`);
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
}

/** Every file of `library/<id>/` in OPFS, read from the page (dot files included). */
export async function opfsFolder(page: Page, id: string): Promise<Map<string, Buffer>> {
  const files = await page.evaluate(async (id) => {
    const root = await navigator.storage.getDirectory();
    const dir = await (await root.getDirectoryHandle('library')).getDirectoryHandle(id);
    const out: [string, string][] = [];
    for await (const [name, handle] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (handle.kind !== 'file') continue;
      const bytes = new Uint8Array(await (await (handle as FileSystemFileHandle).getFile()).arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out.push([name, btoa(binary)]);
    }
    return out;
  }, id);
  return new Map(files.map(([name, b64]) => [name, Buffer.from(b64, 'base64')]));
}

/** Folder names under OPFS `library/` (none when it does not exist). */
export async function opfsLibraryIds(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let lib: FileSystemDirectoryHandle;
    try {
      lib = await root.getDirectoryHandle('library');
    } catch {
      return [];
    }
    const ids: string[] = [];
    for await (const [name] of (lib as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) ids.push(name);
    return ids.sort();
  });
}

/** The only model id in the library, once there is exactly one. */
export async function onlyModelId(page: Page): Promise<string> {
  await expect.poll(() => opfsLibraryIds(page)).toHaveLength(1);
  return (await opfsLibraryIds(page))[0];
}

/** Files whose text names the inputs: the CLI records absolute folders where the studio records `demo/<role>`. */
export const NAMES_INPUTS = ['README.md', 'chatvec-recipe.json', 'mergekit_config.yml'];

/**
 * The real CLI's merge of the demo triplet at α, file by file, with the input folders it records
 * (`<repo>/public/demo/<role>`) written as the studio names them (`demo/<role>`).
 */
export function cliMerge(alpha: string): Map<string, Buffer> {
  const out = mkdtempSync(join(tmpdir(), 'chatvec-cli-'));
  try {
    const demo = (role: string) => join('public', 'demo', role);
    execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'merge', '--base', demo('base'), '--chat', demo('chat'), '--cp', demo('cp'), '--alpha', alpha, '--out', out], { stdio: 'pipe' });
    const files = new Map<string, Buffer>();
    const demoDir = resolve('public', 'demo');
    for (const name of readdirSync(out).sort()) {
      let bytes = readFileSync(join(out, name));
      if (NAMES_INPUTS.includes(name)) bytes = Buffer.from(bytes.toString('utf8').replaceAll(`${demoDir}/`, 'demo/'));
      files.set(name, bytes);
    }
    return files;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The model's files as the studio wrote them are the CLI's, byte for byte (input names as the studio writes them). */
export function expectSameFiles(studio: Map<string, Buffer>, cli: Map<string, Buffer>): void {
  const model = new Map([...studio].filter(([name]) => !name.startsWith('.')));
  expect([...model.keys()].sort()).toEqual([...cli.keys()].sort());
  for (const [name, bytes] of cli) expect({ name, sha256: sha256(model.get(name)!) }).toEqual({ name, sha256: sha256(bytes) });
}
