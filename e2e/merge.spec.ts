import type { Page } from '@playwright/test';
import { cliMerge, expect, expectSameFiles, onlyModelId, opfsFolder, opfsLibraryIds, openStudio, setAlpha, test } from './opfs-fixtures.ts';

/** Small chunks and a resume point after each: the demo merge then takes seconds, long enough to interrupt. */
const SLOW = '?chunkElements=512&checkpointBytes=1';

test.describe.configure({ timeout: 120_000 });

let cli: Map<string, Buffer>;
test.beforeAll(() => {
  cli = cliMerge('0.5');
});

async function startMerge(page: Page, name: string): Promise<void> {
  await page.getByTestId('merge-name').fill(name);
  await page.getByTestId('merge-start').click();
}

/** Wait until the merge has written at least `percent` of its bytes. */
async function mergedAtLeast(page: Page, percent: number): Promise<void> {
  await expect.poll(async () => Number(await page.getByTestId('merge-progress-bar').getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThanOrEqual(percent);
}

test('merges the demo triplet at α 0.5 into OPFS, byte-identical to the CLI', async ({ page }) => {
  await openStudio(page);
  await setAlpha(page, '0.5');
  const panel = page.getByTestId('merge-panel');
  await expect(panel.getByTestId('merge-start')).toBeEnabled();
  await startMerge(page, 'demo α 0.5');
  await expect(panel.getByTestId('merge-done')).toContainText(`Merged demo α 0.5: ${cli.size} files`);
  await expect(panel.getByTestId('merge-error')).toHaveCount(0);

  const id = await onlyModelId(page);
  const files = await opfsFolder(page, id);
  expectSameFiles(files, cli);
  // Beside the model only the studio's entry is left: no partial files, no resume manifest.
  expect([...files.keys()].filter((n) => n.startsWith('.') || n.endsWith('.partial'))).toEqual(['.studio-entry.json']);
  const entry = JSON.parse(files.get('.studio-entry.json')!.toString());
  expect(entry).toMatchObject({ id, name: 'demo α 0.5', status: 'complete', recipe: { cp: 'demo/cp', vectors: [{ base: 'demo/base', chat: 'demo/chat', alpha: 0.5 }] } });
  expect(entry.sources.map((s: { ref: string }) => s.ref)).toEqual(['demo/cp', 'demo/base', 'demo/chat']);

  const card = page.locator(`[data-testid="library-entry"][data-id="${id}"]`);
  await expect(card.getByTestId('library-entry-status')).toHaveText('complete');
  await expect(card.getByTestId('library-file')).toHaveCount(cli.size);
});

test('a reload mid-merge, then Resume, gives the same bytes', async ({ page }) => {
  await openStudio(page, SLOW);
  await setAlpha(page, '0.5');
  await startMerge(page, 'reloaded midway');
  await mergedAtLeast(page, 15);
  await expect(page.getByTestId('merge-tensor')).toHaveText(/^(model\.|lm_head)/);
  await expect(page.getByTestId('merge-rate')).toHaveText(/^\d+\.\d MB\/s$/);
  await expect(page.getByTestId('merge-eta')).toHaveText(/^\d+ (s|min \d\d s)$/);
  await page.getByTestId('merge-panel').screenshot({ path: 'test-results/merge-panel-mid-progress.png' });

  await page.reload();
  const banner = page.getByTestId('pending-merge');
  await expect(banner).toContainText('An interrupted merge of reloaded midway was found');
  await page.getByTestId('merge-panel').screenshot({ path: 'test-results/merge-panel-interrupted.png' });
  const percent = Number((await banner.getByTestId('pending-percent').textContent())!.replace(/% done$/, ''));
  expect(percent).toBeGreaterThanOrEqual(10);
  expect(percent).toBeLessThan(100);
  const id = await onlyModelId(page);
  const before = await opfsFolder(page, id);
  // A reload may land while the resume manifest is being replaced; its temporary file is then left too.
  expect([...before.keys()].filter((n) => n !== '.chatvec-resume.json.partial').sort()).toEqual(['.chatvec-resume.json', '.studio-entry.json', 'model.safetensors.partial']);
  await expect(page.locator(`[data-testid="library-entry"][data-id="${id}"]`).getByTestId('library-entry-status')).toHaveText('interrupted');

  await banner.getByTestId('pending-resume').click();
  await expect(page.getByTestId('merge-done')).toContainText(`Merged reloaded midway: ${cli.size} files`, { timeout: 60_000 });
  await expect(page.getByTestId('pending-merge')).toHaveCount(0);
  const after = await opfsFolder(page, id);
  expectSameFiles(after, cli);
  expect([...after.keys()].filter((n) => n.startsWith('.') || n.endsWith('.partial'))).toEqual(['.studio-entry.json']);
});

test('cancel stops the merge and leaves it resumable; the page answers while it merges', async ({ page }) => {
  await openStudio(page, SLOW);
  await setAlpha(page, '0.5');
  await startMerge(page, 'cancelled once');
  await mergedAtLeast(page, 5);

  // The recipe editor and the plan keep working while the worker merges.
  await setAlpha(page, '0.7');
  await expect(page.getByTestId('merge-progress')).toBeVisible();
  await page.getByTestId('merge-cancel').click();
  await expect(page.getByTestId('merge-cancelled')).toContainText('The merge of cancelled once was cancelled');
  await expect(page.getByTestId('merge-progress')).toHaveCount(0);
  await expect(page.getByTestId('merge-error')).toHaveCount(0);

  const id = await onlyModelId(page);
  const kept = await opfsFolder(page, id);
  expect([...kept.keys()].sort()).toEqual(['.chatvec-resume.json', '.studio-entry.json', 'model.safetensors.partial']);
  const manifest = JSON.parse(kept.get('.chatvec-resume.json')!.toString());
  expect(manifest.current.bytes).toBeGreaterThan(0);
  // Nothing is written after the cancel.
  await page.waitForTimeout(500);
  expect((await opfsFolder(page, id)).get('model.safetensors.partial')!.length).toBe(kept.get('model.safetensors.partial')!.length);

  // The interrupted merge keeps its own recipe (α 0.5), whatever the editor says now.
  const banner = page.getByTestId('pending-merge');
  await expect(banner.getByTestId('pending-name')).toHaveText('cancelled once');
  await banner.getByTestId('pending-resume').click();
  await expect(page.getByTestId('merge-done')).toContainText('Merged cancelled once', { timeout: 60_000 });
  expectSameFiles(await opfsFolder(page, id), cli);
});

test('a discarded interrupted merge leaves nothing behind', async ({ page }) => {
  await openStudio(page, SLOW);
  await startMerge(page, 'discarded');
  await mergedAtLeast(page, 3);
  await page.getByTestId('merge-cancel').click();
  await expect(page.getByTestId('pending-merge')).toBeVisible();
  await page.getByTestId('pending-discard').click();
  await expect(page.getByTestId('pending-merge')).toHaveCount(0);
  expect(await opfsLibraryIds(page)).toEqual([]);
});

// Chromium's navigator.storage.estimate() does not see a CDP quota override, so the check before writing (unit-tested
// in workers/studio-merge.spec.ts) lets the merge start; the browser then refuses the writes, as a full disk would.
test('a quota too small gives a clear error and leaves no partial files', async ({ page, context }) => {
  await openStudio(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin, quotaSize: 300_000 });
  await startMerge(page, 'too big');
  await expect(page.getByTestId('merge-error')).toHaveText(
    /^library\/too-big-[\w-]+\/[\w.-]+: the browser storage quota ran out while writing; expected room for 3\.8 MB \(this merge\), found the browser refusing to store more\. Delete merged models from the library or evict Hub cache entries, let the site keep its data \(persist\), then merge again$/,
  );
  expect(await opfsLibraryIds(page)).toEqual([]);
  await expect(page.getByTestId('pending-merge')).toHaveCount(0);
  await expect(page.getByTestId('library-empty')).toBeVisible();
});

test('storage running out mid-write removes the partial files and says what to do', async ({ page, context }) => {
  await openStudio(page, SLOW);
  await startMerge(page, 'runs out');
  await mergedAtLeast(page, 3);
  // Lower the quota below what is already used: the next write fails with QuotaExceededError.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin, quotaSize: 1000 });
  await expect(page.getByTestId('merge-error')).toHaveText(/^library\/runs-out-[\w-]+\/[\w.-]+: the browser storage quota ran out while writing; expected room for 3\.8 MB \(this merge\), found the browser refusing to store more\. Delete merged models/);
  expect(await opfsLibraryIds(page)).toEqual([]);
  await expect(page.getByTestId('pending-merge')).toHaveCount(0);
});

test('the GPU backend (WebGPU, SwiftShader here) gives the CPU bytes and says where it ran', async ({ page }) => {
  await openStudio(page);
  await setAlpha(page, '0.5');
  const panel = page.getByTestId('merge-panel');
  await panel.getByTestId('merge-backend').selectOption('gpu');
  await startMerge(page, 'on the gpu');
  await expect(panel.getByTestId('merge-done')).toContainText(`Merged on the gpu: ${cli.size} files`, { timeout: 60_000 });
  const report = panel.getByTestId('merge-backend-report');
  await expect(report).toHaveAttribute('data-backend', 'gpu');
  await expect(report).toContainText(/Computed on GPU \(.+\) at \d+\.\d MB\/s/);
  expectSameFiles(await opfsFolder(page, await onlyModelId(page)), cli);
  await panel.screenshot({ path: 'test-results/merge-panel-gpu.png' });
});
