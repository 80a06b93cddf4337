import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test, type Download, type Locator, type Page } from '@playwright/test';
import { openStudioEachTest } from './studio-page.ts';
import type { ChatVectorStats } from '../src/core/stats/stats-report.ts';

/** `chatvec stats` on the demo triplet, as a person would run it. */
function cliStats(...args: string[]): string {
  return execFileSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'stats', '--base', 'public/demo/base', '--chat', 'public/demo/chat', '--cp', 'public/demo/cp', ...args], { encoding: 'utf8' });
}

/** The page's number format: four significant digits, typographic minus. */
const sig4 = (v: number | null) => (v === null ? '—' : v.toPrecision(4).replace(/^-/, '−'));

let cliJson: string, cliCsv: string, expected: ChatVectorStats;
test.beforeAll(() => {
  cliJson = cliStats('--json');
  cliCsv = cliStats('--csv');
  expected = JSON.parse(cliJson);
});

openStudioEachTest();

async function downloaded(page: Page, button: Locator): Promise<{ download: Download; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  return { download, bytes: readFileSync((await download.path())!) };
}

/** What the tooltip of heatmap cell (row, col) should say, from the CLI's JSON; null for a cell without tensors. */
function expectedCell(row: number, module: string): { cosine: string; tau: string } | null {
  if (row === expected.matrix.layers.length) {
    const m = expected.modules.find((x) => x.module === module);
    return m ? { cosine: sig4(m.cosine), tau: sig4(m.tauNorm) } : null;
  }
  const layer = expected.matrix.layers[row];
  const tensors = expected.tensors.filter((t) => t.layer === layer && t.module === module);
  if (!tensors.length) return null;
  const j = expected.matrix.modules.indexOf(module);
  return { cosine: sig4(expected.matrix.cosine[row][j]), tau: sig4(Math.sqrt(tensors.reduce((a, t) => a + t.tauNorm ** 2, 0))) };
}

test('diagnostics of the demo triplet: charts, tooltips and downloads agree with `chatvec stats`', async ({ page }) => {
  // 45 heatmap cells hovered one by one, and a CLI run per download check.
  test.setTimeout(60_000);
  const diagnostics = page.getByTestId('diagnostics');
  await page.locator('nav.views a[href="#diagnostics"]').click();
  await expect(diagnostics.getByTestId('diag-cost')).toHaveText('Reads every weight of base, chat and cp once: 10.9 MB.');
  await diagnostics.getByTestId('diag-compute').click();
  await expect(diagnostics).toHaveAttribute('data-state', 'ready');
  await expect(diagnostics.getByTestId('diag-measured')).toHaveText('Chat vector 1: τ = demo/chat − demo/base, against cp demo/cp; 1,811,584 elements of 39 tensors.');
  await expect(diagnostics.getByTestId('diag-total')).toContainText(`‖τ‖${sig4(expected.total.tauNorm)}`);

  // Per-layer chart: one point per layer, and the hovered layer's values in the legend.
  expect(expected.layers.map((l) => l.layer)).toEqual([0, 1, 2, 3]);
  const chart = diagnostics.getByTestId('diag-layer-chart');
  const plot = chart.locator('.diag-uplot');
  await expect(plot).toHaveAttribute('data-points', '4');
  await expect(plot).toHaveAttribute('aria-label', `‖τ‖ per layer: ${expected.layers.map((l) => sig4(l.tauNorm)).join(', ')}; ‖τ‖/‖cp‖ per layer: ${expected.layers.map((l) => sig4(l.relMagnitude)).join(', ')}`);
  await chart.scrollIntoViewIfNeeded();
  const over = (await chart.locator('.u-over').boundingBox())!;
  // The x scale runs from layer −0.5 to 3.5: layer k sits at (k + 0.5) / 4 of the width.
  for (const k of [0, 3]) {
    await page.mouse.move(over.x + ((k + 0.5) / 4) * over.width, over.y + over.height / 2);
    const values = chart.locator('.u-legend .u-series .u-value');
    await expect(values.nth(0)).toHaveText(String(k));
    await expect(values.nth(1)).toHaveText(sig4(expected.layers[k].tauNorm));
    await expect(values.nth(2)).toHaveText(sig4(expected.layers[k].relMagnitude));
  }
  expect(sig4(expected.layers[0].tauNorm)).toBe('11.88');

  // The same numbers in the per-layer table.
  const table = diagnostics.getByTestId('diag-layer-table');
  await table.locator('summary').click();
  await expect(table.locator('tbody tr')).toHaveCount(4);
  for (const l of expected.layers) {
    await expect(table.locator(`tr[data-layer="${l.layer}"]`).getByTestId('diag-layer-tau')).toHaveText(sig4(l.tauNorm));
    await expect(table.locator(`tr[data-layer="${l.layer}"]`).getByTestId('diag-layer-rel')).toHaveText(sig4(l.relMagnitude));
  }

  // Heatmap: 4 layers + the "all" row × the 9 module types; every cell's tooltip against the CLI's numbers.
  const heatmap = diagnostics.getByTestId('diag-heatmap');
  const canvas = heatmap.getByTestId('diag-heatmap-canvas');
  await expect(canvas).toHaveAttribute('data-rows', '5');
  await expect(canvas).toHaveAttribute('data-cols', '9');
  const modules = ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'norm', 'embedding'];
  await canvas.evaluate((c) => c.scrollIntoView({ block: 'center' }));
  const num = async (name: string) => Number(await canvas.getAttribute(name));
  const [left, top, cellWidth, rowHeight, gap] = [await num('data-left'), await num('data-top'), await num('data-cell-width'), await num('data-row-height'), await num('data-gap')];
  const tooltip = heatmap.getByTestId('diag-heatmap-tooltip');
  let numeric = 0;
  const box = (await canvas.boundingBox())!;
  for (let r = 0; r < 5; r++) {
    for (const [c, module] of modules.entries()) {
      await page.mouse.move(box.x + left + (c + 0.5) * cellWidth, box.y + top + r * rowHeight + (r === 4 ? gap : 0) + rowHeight / 2);
      await expect(tooltip).toHaveAttribute('data-layer', r === 4 ? 'all' : String(r));
      await expect(tooltip).toHaveAttribute('data-module', module);
      const cell = expectedCell(r, module);
      if (cell) {
        numeric++;
        await expect(tooltip.getByTestId('diag-tooltip-cosine')).toHaveText(cell.cosine);
        await expect(tooltip.getByTestId('diag-tooltip-tau')).toHaveText(cell.tau);
      } else {
        await expect(tooltip).toContainText(`no ${module} tensor in this layer`);
      }
    }
  }
  // Each layer has q, k, v, o, gate, up, down and norm; the embeddings have no layer and show in the "all" row.
  expect(numeric).toBe(4 * 8 + 9);
  await page.mouse.move(box.x + left + 0.5 * cellWidth, box.y + top + 2.5 * rowHeight);
  await expect(tooltip).toHaveAttribute('data-layer', '2');
  await heatmap.screenshot({ path: 'test-results/diagnostics-heatmap-hover.png' });

  // Downloads: byte for byte what the CLI prints for the same models.
  const csv = await downloaded(page, diagnostics.getByTestId('diag-csv'));
  expect(csv.download.suggestedFilename()).toBe('chatvec-stats-v1.csv');
  expect(csv.bytes.toString('utf8')).toBe(cliCsv);
  const json = await downloaded(page, diagnostics.getByTestId('diag-json'));
  expect(json.download.suggestedFilename()).toBe('chatvec-stats-v1.json');
  expect(json.bytes.toString('utf8')).toBe(cliJson);
  for (const [button, name] of [
    ['diag-layer-png', 'chatvec-stats-v1-layers.png'],
    ['diag-heatmap-png', 'chatvec-stats-v1-cosine.png'],
  ]) {
    const png = await downloaded(page, diagnostics.getByTestId(button));
    expect(png.download.suggestedFilename()).toBe(name);
    expect([...png.bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // Width and height from the IHDR chunk: the chart's canvas plus a margin and a title.
    expect(png.bytes.readUInt32BE(16)).toBeGreaterThan(600);
    expect(png.bytes.readUInt32BE(20)).toBeGreaterThan(200);
    await png.download.saveAs(`test-results/${name}`);
  }

  await page.evaluate(() => window.scrollTo(0, 0));
  const section = (await diagnostics.boundingBox())!;
  await page.screenshot({ path: 'test-results/diagnostics.png', fullPage: true, clip: section });

  // The α curve shows ‖τ‖ per layer once the diagnostics are computed.
  const vector = page.getByTestId('vector-0');
  await vector.getByTestId('alpha-mode-curve').check();
  const curve = vector.getByTestId('curve-chart');
  await expect(curve.locator('canvas')).toBeVisible();
  await expect(curve).toHaveAttribute('data-tau-norms', expected.layers.map((l) => l.tauNorm.toPrecision(4)).join(','));
  await expect(vector.getByTestId('curve-tau-caption')).toContainText('The dashed grey line is ‖τ‖ per layer');
  await expect(curve.locator('.u-axis')).toHaveCount(3);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: 'test-results/diagnostics-curve.png', fullPage: true, clip: (await vector.boundingBox())! });
});

test('a recipe change re-plans each tensor\'s action without reading the weights again', async ({ page }) => {
  const diagnostics = page.getByTestId('diagnostics');
  await diagnostics.getByTestId('diag-compute').click();
  await expect(diagnostics).toHaveAttribute('data-state', 'ready');
  await page.getByTestId('skip-norms').click();
  await expect(page.getByTestId('report-recipe')).toContainText('skip *norm*');
  const expectedCsv = cliStats('--skip', '*norm*', '--csv');
  expect(expectedCsv).toContain('model.norm.weight,,norm,copy,');
  // Relabelling is asynchronous: download until the CSV has caught up (it never recomputes: no progress shows).
  await expect(async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), diagnostics.getByTestId('diag-csv').click()]);
    expect(readFileSync((await download.path())!, 'utf8')).toBe(expectedCsv);
  }).toPass({ timeout: 5000 });
  await expect(diagnostics.getByTestId('diag-progress')).toHaveCount(0);
  await expect(diagnostics).toHaveAttribute('data-state', 'ready');

  // Another model in the chat slot: the kept diagnostics no longer apply.
  await page.getByTestId('slot-chat').getByTestId('open-demo').click();
  await page.getByTestId('slot-chat').getByTestId('demo-base').click();
  await expect(page.getByTestId('slot-chat').getByTestId('slot-ref')).toHaveText('demo/base');
  await expect(diagnostics).toHaveAttribute('data-state', 'idle');
  await expect(diagnostics.getByTestId('diag-cost')).toContainText('The models changed since the last diagnostics.');
});
