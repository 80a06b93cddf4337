import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import type { Locator, Page } from '@playwright/test';
import { formatBytes } from '../src/core/format.ts';
import { expect, onlyModelId, opfsFolder, opfsLibraryIds, openStudio, sha256, test } from './opfs-fixtures.ts';

/** Merge the demo triplet (α 1) under `name` and return the library card and the OPFS files. */
async function mergedModel(page: Page, name: string): Promise<{ id: string; card: Locator; files: Map<string, Buffer> }> {
  await openStudio(page);
  await page.getByTestId('merge-name').fill(name);
  await page.getByTestId('merge-start').click();
  await expect(page.getByTestId('merge-done')).toBeVisible();
  const id = await onlyModelId(page);
  const all = await opfsFolder(page, id);
  const files = new Map([...all].filter(([n]) => !n.startsWith('.')));
  return { id, card: page.locator(`[data-testid="library-entry"][data-id="${id}"]`), files };
}

test('the library lists a merged model with its inputs, recipe, files and SHA-256 sums', async ({ page }) => {
  const { id, card, files } = await mergedModel(page, 'Demo chat model');
  await expect(card.getByTestId('library-entry-name')).toHaveText('Demo chat model');
  await expect(card.getByTestId('library-entry-status')).toHaveText('complete');
  await expect(card.getByTestId('library-entry-date')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  const total = [...files.values()].reduce((a, b) => a + b.length, 0);
  await expect(card.getByTestId('library-entry-size')).toHaveText(`${(total / 1e6).toFixed(1)} MB`);
  await expect(card.getByTestId('library-entry-inputs').locator('li')).toHaveText([
    'cp demo/cp — 3.6 MB, 39 tensors',
    'base demo/base — 3.6 MB, 39 tensors',
    'chat demo/chat — 3.6 MB, 39 tensors',
  ]);
  await expect(card.getByTestId('library-entry-recipe')).toBeHidden();
  await card.locator('details.library-recipe summary').click();
  expect(JSON.parse((await card.getByTestId('library-entry-recipe').textContent())!)).toMatchObject({ cp: 'demo/cp', vectors: [{ base: 'demo/base', chat: 'demo/chat', alpha: 1 }], embeddings: 'overlap' });

  const rows = card.getByTestId('library-file');
  await expect(rows).toHaveCount(files.size);
  expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-file')))).toEqual([...files.keys()].sort());
  const weights = card.locator('[data-testid="library-file"][data-file="model.safetensors"]');
  await expect(weights.getByTestId('library-file-size')).toHaveText(`${(files.get('model.safetensors')!.length / 1e6).toFixed(1)} MB`);
  await weights.getByTestId('library-file-hash').click();
  await expect(weights.getByTestId('library-file-sha256')).toHaveText(sha256(files.get('model.safetensors')!));
  const config = card.locator('[data-testid="library-file"][data-file="config.json"]');
  await config.getByTestId('library-file-hash').click();
  await expect(config.getByTestId('library-file-sha256')).toHaveText(sha256(files.get('config.json')!));

  // Sums are kept with the model: still there after a reload.
  await page.reload();
  await expect(weights.getByTestId('library-file-sha256')).toHaveText(sha256(files.get('model.safetensors')!));
  await expect(page.getByTestId('storage-usage')).toHaveText(/^[\d.]+ [kM]B of [\d.]+ [MGT]B used \((<1|\d+)%\)$/);
  await page.getByTestId('library').screenshot({ path: 'test-results/library-view.png' });
  expect(await opfsLibraryIds(page)).toEqual([id]);
});

test('each file downloads with the bytes in OPFS', async ({ page }) => {
  const { card, files } = await mergedModel(page, 'downloads');
  for (const [name, bytes] of files) {
    const row = card.locator(`[data-testid="library-file"][data-file="${name}"]`);
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('library-file-download').click()]);
    expect(download.suggestedFilename()).toBe(name);
    expect(sha256(readFileSync((await download.path())!))).toBe(sha256(bytes));
  }
});

test('the .zip holds every file of the model, stored in a folder named after it', async ({ page }) => {
  const { card, files } = await mergedModel(page, 'zip me');
  const [download] = await Promise.all([page.waitForEvent('download'), card.getByTestId('library-zip').click()]);
  expect(download.suggestedFilename()).toBe('zip me.zip');
  const entries = unzipSync(new Uint8Array(readFileSync((await download.path())!)));
  expect(Object.keys(entries).sort()).toEqual([...files.keys()].map((n) => `zip me/${n}`).sort());
  for (const [name, bytes] of files) expect({ name, sha256: sha256(entries[`zip me/${name}`]) }).toEqual({ name, sha256: sha256(bytes) });
  await expect(card.getByTestId('library-export-status')).toHaveText('The .zip download has started.');
});

test('delete asks once more, then removes the model from OPFS', async ({ page }) => {
  const { card } = await mergedModel(page, 'short-lived');
  await card.getByTestId('library-delete').click();
  await card.getByTestId('library-delete-confirm').click();
  await expect(page.getByTestId('library-entry')).toHaveCount(0);
  await expect(page.getByTestId('library-empty')).toHaveText('No merged models yet.');
  expect(await opfsLibraryIds(page)).toEqual([]);
});

test('storage shows usage and quota, and "Keep data" asks the browser to persist', async ({ page }) => {
  await openStudio(page);
  const { quota } = await page.evaluate(() => navigator.storage.estimate());
  await expect(page.getByTestId('storage-usage')).toHaveText(/^[\d.]+ (B|kB|MB) of [\d.]+ [MGT]B used \((<1|\d+)%\)$/);
  await expect(page.getByTestId('storage-usage')).toContainText(` of ${formatBytes(quota!)} used`);
  await expect(page.getByTestId('hub-cache')).toContainText('Hub cache: empty');
  // Headless Chromium decides by its own heuristics; either answer must show without an error.
  await page.getByTestId('storage-persist').click();
  await expect(page.getByTestId('storage-persisted').or(page.getByTestId('storage-persist'))).toBeVisible();
  await expect(page.getByTestId('library-error')).toHaveCount(0);
});
