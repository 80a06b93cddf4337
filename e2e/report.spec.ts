import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { serveDemoFrom, writeSyntheticDemo } from './synthetic-demo.ts';

/** The synthetic demo: its cp has 8 more vocabulary rows than base and chat (the trained demo's three share one vocabulary). */
let synthetic: string;
test.beforeAll(() => {
  synthetic = mkdtempSync(join(tmpdir(), 'chatvec-synthetic-demo-'));
  writeSyntheticDemo(synthetic);
});
test.afterAll(() => rmSync(synthetic, { recursive: true, force: true }));

test('the studio plans the synthetic demo triplet and re-plans when the embeddings policy changes', async ({ page, context }) => {
  await serveDemoFrom(context, synthetic);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/');
  await expect(page).toHaveTitle('Chat Vector Studio');
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

  const report = page.getByTestId('report');
  await expect(report).toBeVisible();
  await expect(page.getByTestId('error')).toHaveCount(0);

  // Model slots: from headers and config.json only.
  const base = page.getByTestId('slot-base');
  const chat = page.getByTestId('slot-chat');
  const cp = page.getByTestId('slot-cp');
  await expect(base.getByTestId('summary-architecture')).toHaveText('LlamaForCausalLM (llama)');
  await expect(base.getByTestId('summary-parameters')).toHaveText('235,584');
  await expect(base.getByTestId('summary-dtype')).toHaveText('BF16');
  await expect(base.getByTestId('summary-layers')).toHaveText('4');
  await expect(base.getByTestId('summary-size')).toHaveText('475.2 kB');
  await expect(base.getByTestId('summary-vocab')).toHaveText('300');
  await expect(base.getByTestId('summary-chat-template')).toHaveText('no');
  await expect(chat.getByTestId('summary-chat-template')).toHaveText('yes');
  await expect(cp.getByTestId('summary-parameters')).toHaveText('236,608');
  await expect(cp.getByTestId('summary-size')).toHaveText('477.2 kB');
  await expect(cp.getByTestId('summary-vocab')).toHaveText('308');

  // α = 1, overlap: cp's expanded vocabulary (308 vs 300 rows) merges embed_tokens and lm_head on shared rows.
  await expect(page.getByTestId('alpha')).toHaveValue('1');
  await expect(base.getByTestId('slot-source')).toHaveText('From built-in demo model (base)');
  await expect(page.getByTestId('embeddings')).toHaveValue('overlap');
  await expect(page.getByTestId('count-merged')).toHaveText('37');
  await expect(page.getByTestId('count-merged-rows')).toHaveText('2');
  await expect(page.getByTestId('count-copied')).toHaveText('0');
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  await expect(page.getByTestId('issues-info').locator('article')).toHaveCount(1);
  const overlap = page.getByTestId('issue-vocab-overlap');
  await expect(overlap).toContainText("vocabulary sizes differ; α·τ is added to the 300 rows all models share, cp's other rows are kept bit-exact");
  await expect(page.getByTestId('issue-vocab-overlap-tensors').locator('li')).toHaveText([
    'model.embed_tokens.weight: rows 0–299 merged, rows 300–307 kept from cp',
    'lm_head.weight: rows 0–299 merged, rows 300–307 kept from cp',
  ]);
  await expect(page.getByTestId('issues-error')).toHaveCount(0);
  await expect(page.getByTestId('issues-warning')).toHaveCount(0);
  await expect(page.getByTestId('notes')).toContainText('chat_template taken from the chat model (demo/chat)');

  // An out-of-range α is explained and does not re-plan; a valid one does.
  await page.getByTestId('alpha').fill('3');
  await expect(page.getByTestId('alpha-error')).toHaveText('α must be between −1 and 2.');
  await expect(page.getByTestId('report-recipe')).toContainText('α = 1, embeddings: overlap');
  await page.getByTestId('alpha').fill('0.5');
  await expect(page.getByTestId('alpha-error')).toHaveCount(0);
  await expect(page.getByTestId('report-recipe')).toContainText('α = 0.5, embeddings: overlap');

  // skip: cp keeps its embeddings, so two tensors move from "merged on shared rows" to "copied".
  await page.getByTestId('embeddings').selectOption('skip');
  await expect(page.getByTestId('report-recipe')).toContainText('α = 0.5, embeddings: skip');
  await expect(page.getByTestId('count-merged')).toHaveText('37');
  await expect(page.getByTestId('count-merged-rows')).toHaveText('0');
  await expect(page.getByTestId('count-copied')).toHaveText('2');
  await expect(page.getByTestId('issue-vocab-overlap')).toHaveCount(0);
  const kept = page.getByTestId('issue-vocab-kept');
  await expect(kept).toContainText('vocabulary sizes differ; embeddings policy "skip" keeps cp\'s tensors unchanged');
  await expect(kept.locator('li')).toHaveText(['model.embed_tokens.weight', 'lm_head.weight']);
  await expect(kept).toContainText('Use the overlap policy to add α·τ to the rows all three models share');

  // Back to overlap for the screenshot, the page as a user first sees it.
  await page.getByTestId('alpha').fill('1');
  await page.getByTestId('embeddings').selectOption('overlap');
  await expect(page.getByTestId('count-merged-rows')).toHaveText('2');
  await expect(report).toHaveAttribute('data-state', 'ready');
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: 'test-results/studio-report.png', fullPage: true });

  // Every tensor of cp is listed, with what happens to it.
  await report.getByText('All tensors (39)').click();
  await expect(report.locator('tbody tr')).toHaveCount(39);
  await expect(report.locator('tbody tr', { hasText: 'lm_head.weight' })).toContainText('[308, 64]BF16merge1rows 0–299 merged, rows 300–307 kept from cp');
  await report.screenshot({ path: 'test-results/studio-tensors.png' });
  expect(pageErrors).toEqual([]);
});

test('a config that does not match is reported as an error that blocks the merge', async ({ page, context }) => {
  await context.route('**/demo/cp/config.json', async (route) => {
    const response = await route.fetch();
    const config = await response.json();
    await route.fulfill({ response, json: { ...config, hidden_size: 256 } });
  });
  await page.goto('/');
  const issue = page.getByTestId('issues-error').getByTestId('issue-config-mismatch');
  await expect(issue).toContainText('config.json values differ between the models');
  await expect(issue.locator('li')).toHaveText(['hidden_size: cp=256, base=128, chat=128']);
  await expect(issue).toContainText('A chat vector only transfers between models of one architecture');
  await expect(page.getByTestId('status')).toHaveText('1 error blocks the merge');
});

test('a missing demo file is a readable message in its slot, not a stack trace', async ({ page, context }) => {
  let missing = true;
  await context.route('**/demo/cp/model.safetensors', (route) => (missing ? route.fulfill({ status: 404, body: 'not found' }) : route.continue()));
  await page.goto('/');
  const cp = page.getByTestId('slot-cp');
  await expect(cp.getByTestId('slot-error')).toHaveText(
    'demo/cp/model.safetensors: the demo file is missing; expected it at /demo/cp/model.safetensors, found HTTP 404. Restore the demo models with `git checkout -- public/demo` (they are part of the repository; `node scripts/ensure-demo.mjs` checks them) and reload' +
      'Try again',
  );
  await expect(page.getByTestId('report')).toHaveCount(0);
  await expect(page.getByTestId('report-waiting')).toHaveText('Choose a model for CP to see the compatibility report.');
  await expect(page.getByTestId('slot-base').getByTestId('summary-vocab')).toHaveText('4,000');

  // Once the file is there, trying again fills the slot and the report appears.
  missing = false;
  await cp.getByRole('button', { name: 'Try again' }).click();
  await expect(cp.getByTestId('summary-vocab')).toHaveText('4,000');
  await expect(cp.getByTestId('slot-error')).toHaveCount(0);
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
});
