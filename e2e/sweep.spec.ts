import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Download, Page } from '@playwright/test';
import { comparableSweepResult } from '../src/sweep/export.ts';
import type { SweepResult } from '../src/sweep/types.ts';
import { expect, openStudio, test } from './opfs-fixtures.ts';

// The α sweep on the demo triplet, run in the page's preview worker, against `chatvec sweep` on the same
// files with the same greedy settings: the numbers and every answer must agree exactly.

test.describe.configure({ timeout: 180_000 });

const ALPHAS = '0,0.5,1';
const MAX_TOKENS = '16';

function cliSweep(format: '--json' | '--csv'): string {
  return execFileSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'sweep', '--base', 'public/demo/base', '--chat', 'public/demo/chat', '--cp', 'public/demo/cp', '--alphas', ALPHAS, '--prompts', 'builtin:zh-Hans', '--max-new-tokens', MAX_TOKENS, format], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Without what legitimately differs: ids, dates, times, and where the models were read from. */
function comparable(r: SweepResult) {
  const { models: _models, ...rest } = comparableSweepResult(r);
  return rest;
}

async function downloaded(page: Page, testId: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]) as [Download, unknown];
  return readFileSync((await download.path())!, 'utf8');
}

async function runSweep(page: Page, alphas: string, maxTokens: string): Promise<void> {
  const sweep = page.getByTestId('sweep');
  await sweep.scrollIntoViewIfNeeded();
  await sweep.getByTestId('sweep-alphas').fill(alphas);
  await sweep.getByTestId('sweep-set').selectOption('zh-Hans');
  await sweep.getByTestId('sweep-max-tokens').fill(maxTokens);
  await sweep.getByTestId('sweep-run').click();
}

test('a sweep over the demo triplet: results, charts, table, exports equal to the CLI\'s, saved and reopened after a reload', async ({ page }) => {
  const cliJson = JSON.parse(cliSweep('--json')) as SweepResult;
  const cliCsv = cliSweep('--csv');
  await openStudio(page);
  await runSweep(page, ALPHAS, MAX_TOKENS);
  const sweep = page.getByTestId('sweep');
  const result = sweep.getByTestId('sweep-result');
  await expect(result).toHaveCount(1, { timeout: 120_000 });
  await expect(sweep.getByTestId('sweep-error')).toHaveCount(0);

  // The page's result, exported, is the CLI's.
  const json = JSON.parse(await downloaded(page, 'sweep-export-json')) as SweepResult;
  expect(json.models).toEqual({ cp: 'demo/cp', base: 'demo/base', chat: 'demo/chat' });
  expect(comparable(json)).toEqual(comparable(cliJson));
  expect(await downloaded(page, 'sweep-export-csv')).toBe(cliCsv);
  const pointsCsv = await downloaded(page, 'sweep-export-points-csv');
  expect(pointsCsv.split('\n')[0]).toBe('alpha,target_language_rate,format_adherence,mean_response_tokens,mean_distinct1,mean_distinct2,perplexity,alpha_change_ms,generate_ms,perplexity_ms,recommended');
  expect(pointsCsv.trim().split('\n')).toHaveLength(4);

  // What the page shows is that result.
  await expect(result).toHaveAttribute('data-id', json.id);
  await expect(sweep.getByTestId('sweep-recommendation')).toHaveAttribute('data-alpha', cliJson.recommendation.alpha === null ? '' : String(cliJson.recommendation.alpha));
  await expect(sweep.getByTestId('sweep-reasoning')).toHaveText(cliJson.recommendation.reasoning);
  await expect(sweep.getByTestId('sweep-rule')).toContainText('A response counts as in the target language when more than half of its letters are target letters');
  const rows = sweep.getByTestId('sweep-point');
  await expect(rows).toHaveCount(3);
  for (const [i, p] of cliJson.points.entries()) {
    await expect(rows.nth(i)).toHaveAttribute('data-alpha', String(p.alpha));
    await expect(rows.nth(i).locator('td').nth(1)).toHaveText(`${Math.round(p.targetLanguageRate * 1000) / 10}%`);
  }
  for (const id of ['rates', 'tokens', 'distinct', 'perplexity']) {
    await expect(sweep.getByTestId(`sweep-chart-${id}`)).toHaveAttribute('data-points', '3');
    await expect(sweep.getByTestId(`sweep-chart-${id}`).locator('canvas')).toHaveCount(1);
  }
  const cells = sweep.getByTestId('sweep-cell');
  await expect(cells).toHaveCount(3 * cliJson.promptSet.prompts.length);
  // Each cell carries its response's scores, and its letters are marked by script.
  for (const r of cliJson.responses.slice(0, 6)) {
    const cell = sweep.locator(`[data-testid="sweep-cell"][data-prompt="${r.promptId}"][data-alpha="${r.alpha}"]`);
    await expect(cell).toHaveAttribute('data-eos', String(r.endedWithEos));
    await expect(cell).toHaveAttribute('data-target', String(r.inTargetLanguage));
    // Han letters are the target script of zh-Hans; Latin, Hangul or Kana letters are marked as another script.
    expect(await cell.locator('.script-target').count() > 0).toBe(r.scripts.han > 0);
    expect(await cell.locator('.script-other').count() > 0).toBe(r.scripts.latin + r.scripts.hangul + r.scripts.kana + r.scripts.other > 0);
  }
  await sweep.getByTestId('sweep-result').screenshot({ path: 'test-results/sweep-result.png' });

  // Saved in OPFS: after a reload it is listed and opens again.
  await page.reload();
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  const entry = page.locator(`[data-testid="sweep-saved-entry"][data-id="${json.id}"]`);
  await expect(entry).toHaveCount(1);
  await entry.getByTestId('sweep-saved-open').click();
  await expect(page.getByTestId('sweep-result')).toHaveAttribute('data-id', json.id);
  await expect(page.getByTestId('sweep-point')).toHaveCount(3);
  expect(comparable(JSON.parse(await downloaded(page, 'sweep-export-json')) as SweepResult)).toEqual(comparable(cliJson));

  // A second sweep, compared with the first: every chart gets the saved sweep's series too.
  await runSweep(page, '0.25,0.75', MAX_TOKENS);
  await expect(page.getByTestId('sweep-point')).toHaveCount(2, { timeout: 120_000 });
  await expect(page.getByTestId('sweep-saved-entry')).toHaveCount(2);
  await entry.getByTestId('sweep-saved-compare').click();
  await expect(page.getByTestId('sweep-comparing')).toHaveAttribute('data-id', json.id);
  await expect(page.getByTestId('sweep-chart-rates')).toHaveAttribute('data-series', '4');
  await expect(page.getByTestId('sweep-chart-rates')).toHaveAttribute('data-points', '5');
  await page.getByTestId('sweep-result').screenshot({ path: 'test-results/sweep-compare.png' });

  // Delete the first one.
  await entry.getByTestId('sweep-saved-delete').click();
  await expect(page.getByTestId('sweep-saved-entry')).toHaveCount(2);
  await entry.getByTestId('sweep-saved-delete-confirm').click();
  await expect(page.getByTestId('sweep-saved-entry')).toHaveCount(1);
});

test('a sweep can be stopped midway, saves nothing, and bad prompt sets are refused with the line named', async ({ page }) => {
  await openStudio(page);
  await runSweep(page, '0:1.5:0.25', '64');
  const sweep = page.getByTestId('sweep');
  await expect(sweep.getByTestId('sweep-progress')).toBeVisible({ timeout: 60_000 });
  await expect.poll(async () => Number(await sweep.getByTestId('sweep-progress').getAttribute('data-done')), { timeout: 60_000 }).toBeGreaterThan(0);
  await expect(sweep.getByTestId('sweep-progress')).toContainText(/α \d\/7 · .* s/);
  await sweep.getByTestId('sweep-stop').click();
  await expect(sweep.getByTestId('sweep-cancelled')).toHaveText('Sweep stopped; nothing was saved.', { timeout: 30_000 });
  await expect(sweep.getByTestId('sweep-result')).toHaveCount(0);
  await expect(sweep.getByTestId('sweep-saved-entry')).toHaveCount(0);
  await expect(sweep.getByTestId('sweep-run')).toBeEnabled();

  // A bad α grid and a bad JSONL line: clear errors, no sweep.
  await sweep.getByTestId('sweep-alphas').fill('0,abc');
  await sweep.getByTestId('sweep-run').click();
  await expect(sweep.getByTestId('sweep-error')).toContainText('α grid');
  await sweep.getByTestId('sweep-alphas').fill('1');
  await sweep.getByTestId('sweep-set').selectOption('custom');
  await sweep.getByTestId('sweep-lang').selectOption('zh-Hans');
  await sweep.getByTestId('sweep-jsonl').fill('{"text": "你好"}\n{"txt": "再见"}');
  await sweep.getByTestId('sweep-run').click();
  await expect(sweep.getByTestId('sweep-error')).toContainText('line 2');

  // An uploaded set runs.
  await sweep.getByTestId('sweep-jsonl-file').setInputFiles({ name: 'mine.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"id": "a", "text": "你好"}\n{"id": "b", "text": "谢谢"}\n') });
  await expect(sweep.getByTestId('sweep-jsonl')).toHaveValue('{"id": "a", "text": "你好"}\n{"id": "b", "text": "谢谢"}\n');
  await sweep.getByTestId('sweep-max-tokens').fill('8');
  await sweep.getByTestId('sweep-run').click();
  await expect(sweep.getByTestId('sweep-cell')).toHaveCount(2, { timeout: 60_000 });
  await expect(sweep.getByTestId('sweep-error')).toHaveCount(0);
  await expect(sweep.getByTestId('sweep-point').locator('td').last()).toHaveText('—');
});
