import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { openStudioEachTest } from './studio-page.ts';
import { serveDemoFrom, writeSyntheticDemo } from './synthetic-demo.ts';

/**
 * Fixture triplets written once for the file: the synthetic demo (served as the studio's demo: these tests need cp's
 * extra vocabulary rows, which the trained demo lacks), the same shapes with a larger cp vocabulary, and a wider model.
 */
let fixtures: string;

test.beforeAll(() => {
  fixtures = mkdtempSync(join(tmpdir(), 'chatvec-e2e-'));
  writeSyntheticDemo(join(fixtures, 'demo'));
  const demoShape = ['--hidden', '64', '--layers', '4', '--heads', '4', '--kv-heads', '2', '--intermediate', '192'];
  execFileSync('npx', ['tsx', 'scripts/make-fixtures.ts', join(fixtures, 'vocab316'), ...demoShape, '--cp-extra', '16', '--seed', '11']);
  execFileSync('npx', ['tsx', 'scripts/make-fixtures.ts', join(fixtures, 'wide'), '--hidden', '128', '--layers', '4', '--heads', '4', '--kv-heads', '2', '--intermediate', '192']);
});
test.afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

// Before the studio opens (openStudioEachTest's beforeEach runs after this one).
test.beforeEach(({ context }) => serveDemoFrom(context, join(fixtures, 'demo')));
openStudioEachTest();

/** The all-tensors table, opened. */
async function tensors(page: Page): Promise<Locator> {
  const report = page.getByTestId('report');
  const details = report.locator('details.tensor-table');
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  return report;
}

function row(report: Locator, tensor: string): Locator {
  return report.locator(`tr[data-tensor="${tensor}"]`);
}

/** α of the layers' q_proj, first layer to last. */
async function expectLayerAlphas(report: Locator, alphas: string[]) {
  for (const [i, a] of alphas.entries()) await expect(row(report, `model.layers.${i}.self_attn.q_proj.weight`).getByTestId('tensor-alpha')).toHaveText(a);
}

/** An element as laid out at the top of the page (an element screenshot would scroll it under the sticky nav). */
async function shoot(page: Page, element: Locator, path: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = (await element.boundingBox())!;
  await page.screenshot({ path, fullPage: true, clip: box });
}

async function blur(page: Page) {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
}

test('α from the slider keys and the number field re-plans every tensor', async ({ page }) => {
  const report = await tensors(page);
  const vector = page.getByTestId('vector-0');
  const slider = vector.getByTestId('alpha-slider');
  const field = vector.getByTestId('alpha');
  await expectLayerAlphas(report, ['1', '1', '1', '1']);

  await slider.focus();
  await slider.press('ArrowLeft');
  await slider.press('ArrowLeft');
  await expect(field).toHaveValue('0.9');
  await expectLayerAlphas(report, ['0.9', '0.9', '0.9', '0.9']);
  await expect(row(report, 'lm_head.weight').getByTestId('tensor-alpha')).toHaveText('0.9');

  await slider.press('PageDown');
  await expect(field).toHaveValue('0.65');
  await expect(row(report, 'model.layers.2.mlp.down_proj.weight').getByTestId('tensor-alpha')).toHaveText('0.65');
  await slider.press('ArrowUp');
  await expect(field).toHaveValue('0.7');
  await slider.press('PageUp');
  await expect(field).toHaveValue('0.95');
  await slider.press('Home');
  await expect(field).toHaveValue('-1');
  await expect(row(report, 'model.norm.weight').getByTestId('tensor-alpha')).toHaveText('−1');
  await slider.press('End');
  await expect(field).toHaveValue('2');
  await slider.press('PageUp');
  await expect(field).toHaveValue('2');
  await expect(row(report, 'model.norm.weight').getByTestId('tensor-alpha')).toHaveText('2');

  await field.fill('0.35');
  await expect(slider).toHaveValue('0.35');
  await expectLayerAlphas(report, ['0.35', '0.35', '0.35', '0.35']);
  await expect(page.getByTestId('report-recipe')).toContainText('α = 0.35, embeddings: overlap');

  // A value outside the slider's range is explained and does not re-plan.
  await field.fill('2.5');
  await expect(vector.getByTestId('alpha-error')).toHaveText('α must be between −1 and 2.');
  await expect(page.getByTestId('report-recipe')).toContainText('α = 0.35,');
});

test('the Norms preset keeps every norm from cp', async ({ page }) => {
  const report = await tensors(page);
  await expect(page.getByTestId('count-copied')).toHaveText('0');
  await page.getByTestId('skip-norms').click();
  await expect(page.getByTestId('skip-list').locator('li')).toHaveText(['*norm*×']);
  await expect(page.getByTestId('skip-norms')).toBeDisabled();
  // 4 layers × (input_layernorm, post_attention_layernorm) + model.norm
  await expect(page.getByTestId('count-copied')).toHaveText('9');
  await expect(page.getByTestId('count-merged')).toHaveText('28');
  for (const name of ['model.norm.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.3.post_attention_layernorm.weight']) {
    await expect(row(report, name).getByTestId('tensor-action')).toHaveText('copy');
    await expect(row(report, name)).toContainText('skip pattern *norm*');
  }
  await expect(row(report, 'model.layers.0.mlp.up_proj.weight').getByTestId('tensor-action')).toHaveText('merge');

  // A pattern typed by hand, then removed again.
  await page.getByTestId('skip-draft').fill('model.layers.3.*');
  await page.getByTestId('skip-draft').press('Enter');
  await expect(page.getByTestId('count-copied')).toHaveText('16');
  await page.getByRole('button', { name: 'Remove model.layers.3.*' }).click();
  await expect(page.getByTestId('count-copied')).toHaveText('9');
});

test('a per-layer curve [0, 1] gives the 4 demo layers α 0, 1/3, 2/3, 1', async ({ page }) => {
  const vector = page.getByTestId('vector-0');
  await vector.getByTestId('alpha-mode-curve').check();
  const curve = vector.getByTestId('alpha-curve');
  await expect(curve.getByTestId('curve-chart').locator('canvas')).toBeVisible();
  await curve.getByTestId('curve-point-0').fill('0');
  await curve.getByTestId('curve-point-1').fill('1');
  const report = await tensors(page);
  await expectLayerAlphas(report, ['0', '0.333333', '0.666667', '1']);
  await expect(row(report, 'model.layers.1.mlp.gate_proj.weight').getByTestId('tensor-alpha')).toHaveText('0.333333');
  // Outside the layers: embeddings sit at depth 0, the final norm and lm_head at depth 1 (as in mergekit).
  await expect(row(report, 'model.embed_tokens.weight').getByTestId('tensor-alpha')).toHaveText('0');
  await expect(row(report, 'lm_head.weight').getByTestId('tensor-alpha')).toHaveText('1');
  await expect(page.getByTestId('report-recipe')).toContainText('α = curve 0 → 1');
  await expect(curve.getByTestId('curve-chart')).toHaveAttribute('aria-label', 'α per layer: 0, 0.333, 0.667, 1');

  // Adding a point samples the same line; a per-module override takes self_attn out of the curve.
  await curve.getByTestId('curve-add-point').click();
  await expect(curve.getByTestId('curve-point-1')).toHaveValue('0.5');
  await expectLayerAlphas(report, ['0', '0.333333', '0.666667', '1']);
  await vector.getByTestId('override-add-self_attn').click();
  await vector.getByTestId('override-0').getByTestId('override-value').fill('0.25');
  await expectLayerAlphas(report, ['0.25', '0.25', '0.25', '0.25']);
  await expect(row(report, 'model.layers.1.mlp.gate_proj.weight').getByTestId('tensor-alpha')).toHaveText('0.333333');
  await expect(page.getByTestId('report-recipe')).toContainText('α = self_attn 0.25, others curve 0 → 0.5 → 1');

  await vector.getByTestId('override-0').getByRole('button', { name: 'Remove the filter self_attn' }).click();
  await blur(page);
  await shoot(page, page.getByTestId('recipe'), 'test-results/studio-recipe-curve.png');

  // Dragging the last control point down to about 0.
  const canvas = curve.getByTestId('curve-chart').locator('.u-over');
  const box = (await canvas.boundingBox())!;
  // x spans layers −0.04·3 … 1.04·3, y spans α −1 … 2: the last point (layer 3, α 1) sits a third of the way down.
  const x = box.x + (box.width * 1.04) / 1.08;
  await page.mouse.move(x, box.y + box.height / 3);
  await page.mouse.down();
  await page.mouse.move(x, box.y + (box.height * 2) / 3, { steps: 5 });
  await page.mouse.up();
  await expect(curve.getByTestId('curve-point-2')).toHaveValue('0');
  await expectLayerAlphas(report, ['0', '0.333333', '0.333333', '0']);
});

test('mergekit YAML: download, copy, and import restore the recipe', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const vector = page.getByTestId('vector-0');
  await vector.getByTestId('alpha').fill('0.35');
  await page.getByTestId('embeddings').selectOption('skip');
  await page.getByTestId('skip-norms').click();
  await page.getByTestId('dtype').selectOption('f16');
  await page.getByTestId('shard-size').selectOption('1000000000');
  await page.getByTestId('copy-tokens').fill('<|eot_id|>');
  const recipeLine = 'α = 0.35, embeddings: skip, skip *norm*, dtype f16, shards ≤ 1GB, rows copied for <|eot_id|>';
  await expect(page.getByTestId('report-recipe')).toContainText(recipeLine);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download').click()]);
  expect(download.suggestedFilename()).toBe('mergekit_config.yml');
  const yaml = readFileSync((await download.path())!, 'utf8');
  expect(yaml).toContain('merge_method: task_arithmetic\nbase_model: demo/base\nmodels:\n  - model: demo/cp\n    parameters:\n      weight: 1.0\n  - model: demo/chat\n    parameters:\n      weight: 0.35\n');
  expect(yaml).toContain('# chatvec: {"embeddings":"skip","skip":["*norm*"],"copy_token_rows":["<|eot_id|>"],"shard_size":"1GB"}');
  expect(yaml).toContain('dtype: float16\ntokenizer_source: demo/cp\n');
  await page.getByTestId('export-copy').click();
  await expect(page.getByTestId('mergekit-message')).toHaveText('The mergekit config is on the clipboard.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(yaml);

  // Back to the defaults by hand.
  await vector.getByTestId('alpha').fill('1');
  await page.getByTestId('embeddings').selectOption('overlap');
  await page.getByRole('button', { name: 'Remove *norm*' }).click();
  await page.getByTestId('dtype').selectOption('auto');
  await page.getByTestId('shard-size').selectOption('2000000000');
  await page.getByTestId('copy-tokens').fill('');
  await expect(page.getByTestId('report-recipe')).toContainText('α = 1, embeddings: overlap, shards ≤ 2GB ·');

  // Paste it back in.
  await page.getByTestId('import-open').click();
  const dialog = page.getByTestId('import-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByTestId('import-text').fill(yaml);
  await page.screenshot({ path: 'test-results/studio-import-dialog.png' });
  await dialog.getByTestId('import-run').click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('mergekit-message')).toHaveText('Imported the pasted config. 3 models matched loaded slots.');
  await expect(vector.getByTestId('alpha')).toHaveValue('0.35');
  await expect(page.getByTestId('embeddings')).toHaveValue('skip');
  await expect(page.getByTestId('skip-list').locator('code')).toHaveText(['*norm*']);
  await expect(page.getByTestId('dtype')).toHaveValue('f16');
  await expect(page.getByTestId('shard-size')).toHaveValue('1000000000');
  await expect(page.getByTestId('copy-tokens')).toHaveValue('<|eot_id|>');
  await expect(page.getByTestId('report-recipe')).toContainText(recipeLine);
  await expect(page.getByTestId('slot-cp').getByTestId('slot-ref')).toHaveText('demo/cp');

  // The same file uploaded, naming a chat model that is not loaded: the slot says what it needs.
  await page.getByTestId('import-open').click();
  await dialog.getByTestId('import-file').setInputFiles({ name: 'mergekit_config.yml', mimeType: 'application/yaml', buffer: Buffer.from(yaml.replace('model: demo/chat', 'model: Qwen/Qwen2.5-0.5B-Instruct@main')) });
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('import-missing').locator('li')).toHaveText(['Load Qwen/Qwen2.5-0.5B-Instruct@main into Chat']);
  await expect(page.getByTestId('slot-chat').getByTestId('slot-wanted')).toContainText('Needed: Qwen/Qwen2.5-0.5B-Instruct@main');
  await expect(page.getByTestId('report-waiting')).toHaveText('Choose a model for Chat to see the compatibility report.');
  await page.getByTestId('slot-chat').getByTestId('open-hub').click();
  await expect(page.getByTestId('slot-chat').getByTestId('hub-repo')).toHaveValue('Qwen/Qwen2.5-0.5B-Instruct');
  await expect(page.getByTestId('slot-chat').getByTestId('hub-revision')).toHaveValue('main');

  // Something that is not a chat-vector merge is refused with the reason.
  await page.getByTestId('import-open').click();
  await dialog.getByTestId('import-text').fill('merge_method: slerp\nbase_model: a/b\nmodels:\n  - model: c/d\n');
  await dialog.getByTestId('import-run').click();
  await expect(dialog.getByTestId('import-error')).toContainText('merge_method "slerp" is not a chat-vector merge');
  await expect(dialog).toBeVisible();
});

test('the recipe and the slots survive a reload', async ({ page }) => {
  const vector = page.getByTestId('vector-0');
  await vector.getByTestId('alpha-mode-curve').check();
  await vector.getByTestId('curve-point-0').fill('0.2');
  await vector.getByTestId('curve-point-1').fill('0.8');
  await page.getByTestId('skip-norms').click();
  await page.getByTestId('copy-tokens').fill('<|eot_id|>, <|start_header_id|>');
  await page.getByTestId('slot-chat').getByTestId('open-demo').click();
  await page.getByTestId('slot-chat').getByTestId('demo-base').click();
  await expect(page.getByTestId('slot-chat').getByTestId('slot-ref')).toHaveText('demo/base');
  const recipeLine = 'α = curve 0.2 → 0.8, embeddings: overlap, skip *norm*, shards ≤ 2GB, rows copied for <|eot_id|>, <|start_header_id|>';
  await expect(page.getByTestId('report-recipe')).toContainText(recipeLine);

  await page.reload();
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('report-recipe')).toContainText(recipeLine);
  await expect(vector.getByTestId('alpha-mode-curve')).toBeChecked();
  await expect(vector.getByTestId('curve-point-0')).toHaveValue('0.2');
  await expect(vector.getByTestId('curve-point-1')).toHaveValue('0.8');
  await expect(page.getByTestId('copy-tokens')).toHaveValue('<|eot_id|>, <|start_header_id|>');
  await expect(page.getByTestId('slot-chat').getByTestId('slot-ref')).toHaveText('demo/base');
  await expect(page.getByTestId('slot-chat').getByTestId('slot-source')).toHaveText('From built-in demo model (base)');
});

test('a saved state that cannot be read is said so, and the demo models load instead', async ({ page }) => {
  await page.evaluate(() => localStorage.setItem('chatvec.studio', JSON.stringify({ version: 1, recipe: { chatvec_recipe: 1, cp: 'x', vectors: [{ base: 'b', chat: 'c', alpha: 'much' }] }, slots: {} })));
  await page.reload();
  await expect(page.getByTestId('notice')).toHaveText(
    'The studio saved in this browser could not be restored (saved recipe, tensor "vectors[0].alpha": not a valid α setting; expected a number, a non-empty list of numbers (a gradient), or a non-empty list of {filter, value}, found a string "much"); starting with the demo models. Dismiss',
  );
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  await expect(page.getByTestId('slot-cp').getByTestId('slot-ref')).toHaveText('demo/cp');
  await page.getByTestId('notice').getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('notice')).toHaveCount(0);
});

test('a local folder from <input webkitdirectory> fills a slot and changes the plan', async ({ page }) => {
  const cp = page.getByTestId('slot-cp');
  await expect(page.getByTestId('issue-vocab-overlap-tensors').locator('li').first()).toHaveText('model.embed_tokens.weight: rows 0–299 merged, rows 300–307 kept from cp');
  await cp.getByTestId('folder-input').setInputFiles(join(fixtures, 'vocab316', 'cp'));
  await expect(cp.getByTestId('slot-ref')).toHaveText('local/cp');
  await expect(cp.getByTestId('slot-source')).toHaveText('From local folder cp');
  await expect(cp.getByTestId('summary-vocab')).toHaveText('316');
  await expect(cp.getByTestId('summary-architecture')).toHaveText('LlamaForCausalLM (llama)');
  await expect(page.getByTestId('issue-vocab-overlap-tensors').locator('li')).toHaveText([
    'model.embed_tokens.weight: rows 0–299 merged, rows 300–315 kept from cp',
    'lm_head.weight: rows 0–299 merged, rows 300–315 kept from cp',
  ]);
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  await blur(page);
  await shoot(page, page.getByTestId('report'), 'test-results/studio-report-local-cp.png');

  // After a reload the folder's files are gone: the slot says which folder to choose again.
  await page.reload();
  await expect(cp.getByTestId('slot-wanted')).toContainText('Needed: local/cp');
  await expect(cp.getByTestId('slot-wanted')).toContainText('choose the folder "cp" again');
  await expect(page.getByTestId('report-waiting')).toHaveText('Choose a model for CP to see the compatibility report.');
  await cp.getByTestId('folder-input').setInputFiles(join(fixtures, 'vocab316', 'cp'));
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  await expect(cp.getByTestId('summary-vocab')).toHaveText('316');
});

test('files dropped on a slot load as one model', async ({ page }) => {
  const folder = join(fixtures, 'vocab316', 'chat');
  const files = readdirSync(folder).map((name) => ({ name, base64: readFileSync(join(folder, name)).toString('base64') }));
  const chat = page.getByTestId('slot-chat');
  await chat.evaluate((slot) => slot.dispatchEvent(new DragEvent('drop', { dataTransfer: new DataTransfer(), bubbles: true, cancelable: true })));
  await expect(chat.getByTestId('slot-error')).toHaveText('Nothing to load in what was dropped: drop a model folder or its files.');
  // What the browser hands the page for a drop of files (a drop from the OS cannot be driven from a test).
  await chat.evaluate((slot, dropped) => {
    const data = new DataTransfer();
    for (const f of dropped) data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
    slot.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    slot.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  }, files);
  await expect(chat.getByTestId('slot-ref')).toHaveText('local/dropped files');
  await expect(chat.getByTestId('slot-error')).toHaveCount(0);
  await expect(chat.getByTestId('slot-source')).toHaveText('From local folder dropped files');
  await expect(chat.getByTestId('summary-chat-template')).toHaveText('yes');
  await expect(page.getByTestId('notes')).toContainText('chat_template taken from the chat model (local/dropped files)');
});

test('a cp whose config does not match shows the error that blocks the merge', async ({ page }) => {
  const cp = page.getByTestId('slot-cp');
  await cp.getByTestId('folder-input').setInputFiles(join(fixtures, 'vocab316', 'cp'));
  await expect(cp.getByTestId('summary-vocab')).toHaveText('316');
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  // Another folder named cp: the same reference, a different model, so the plan must be made again.
  await cp.getByTestId('folder-input').setInputFiles(join(fixtures, 'wide', 'cp'));
  await expect(cp.getByTestId('slot-ref')).toHaveText('local/cp');
  await expect(cp.getByTestId('summary-parameters')).toHaveText('569,472');
  const issue = page.getByTestId('issues-error').getByTestId('issue-config-mismatch');
  await expect(issue).toContainText('config.json values differ between the models');
  await expect(issue.locator('li')).toHaveText(['hidden_size: cp=128, base=64, chat=64', 'head_dim: cp=32, base=16, chat=16']);
  await expect(page.getByTestId('status')).toContainText('block the merge');
  await blur(page);
  await page.screenshot({ path: 'test-results/studio-mismatch.png', fullPage: true });
});

test('a folder that is not a model is a readable error in its slot', async ({ page }) => {
  const cp = page.getByTestId('slot-cp');
  await cp.getByTestId('folder-input').setInputFiles(join(fixtures, 'vocab316'));
  await expect(cp.getByTestId('slot-error')).toContainText('local/vocab316');
  await expect(cp.getByTestId('slot-error')).toContainText('Still using demo/cp.');
  // The plan goes on with the model the slot still holds.
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
});

test('another chat vector adds a Base/Chat pair with its own α', async ({ page }) => {
  await page.getByTestId('add-vector').click();
  const extra = page.getByTestId('extra-vector-2');
  await expect(extra.getByTestId('slot-base-2').getByTestId('slot-ref')).toHaveText('demo/base');
  await expect(page.getByTestId('report-waiting')).toHaveText('Choose a model for Chat 2 to see the compatibility report.');
  await extra.getByTestId('slot-chat-2').getByTestId('open-demo').click();
  await extra.getByTestId('slot-chat-2').getByTestId('demo-chat').click();
  await page.getByTestId('vector-1').getByTestId('alpha').fill('0.5');
  const report = await tensors(page);
  await expect(row(report, 'model.layers.0.mlp.up_proj.weight').getByTestId('tensor-alpha')).toHaveText('1, 0.5');
  await expect(page.getByTestId('report-recipe')).toContainText('α₁ = 1, α₂ = 0.5, embeddings: overlap');
  // mergekit keys models by name: the same chat model twice cannot be exported.
  await page.getByTestId('export-download').click();
  await expect(page.getByTestId('mergekit-message')).toContainText('"demo/chat" is also vectors[0].chat');
  await blur(page);
  await shoot(page, page.getByRole('region', { name: 'Models' }), 'test-results/studio-slots.png');
  await extra.getByTestId('remove-vector').click();
  await expect(page.getByTestId('report-recipe')).toContainText('α = 1, embeddings: overlap');
});

test('a merged model from the library fills a slot, and comes back after a reload', async ({ page }) => {
  await page.getByTestId('merge-name').fill('demo merged');
  await page.getByTestId('merge-start').click();
  await expect(page.getByTestId('merge-done')).toBeVisible();
  const cp = page.getByTestId('slot-cp');
  await cp.getByTestId('open-library').click();
  const picker = cp.getByTestId('library-picker');
  await expect(picker.getByRole('button', { name: 'demo merged' })).toBeVisible();
  await picker.getByRole('button', { name: 'demo merged' }).click();
  await expect(cp.getByTestId('slot-ref')).toHaveText(/^library\/.+/);
  const ref = (await cp.getByTestId('slot-ref').textContent())!;
  await expect(cp.getByTestId('slot-source')).toHaveText(`From library model ${ref.slice('library/'.length)}`);
  // The merge of demo/chat into demo/cp keeps cp's vocabulary.
  await expect(cp.getByTestId('summary-vocab')).toHaveText('308');
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');

  await page.reload();
  await expect(cp.getByTestId('slot-ref')).toHaveText(ref);
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
});

test('the Hub form checks its fields and keeps the token in memory unless asked', async ({ page }) => {
  const chat = page.getByTestId('slot-chat');
  await chat.getByTestId('open-hub').click();
  const form = chat.getByTestId('hub-form');
  await expect(form.getByTestId('hub-url')).toHaveValue('https://huggingface.co');
  await form.getByTestId('hub-repo').fill('not a repo');
  await form.getByTestId('hub-load').click();
  await expect(form.getByTestId('hub-error')).toContainText('"not a repo" is not a Hub model reference');
  await blur(page);
  await shoot(page, chat, 'test-results/studio-hub-form.png');
  await form.getByTestId('hub-token').fill('hf_secret');
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBeNull();
  await form.getByTestId('hub-remember').check();
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBe('hf_secret');
  await form.getByTestId('hub-remember').uncheck();
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBeNull();
  await form.getByTestId('hub-url').fill('http://127.0.0.1:9/hub');
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.url'))).toBe('http://127.0.0.1:9/hub');
  await page.reload();
  await chat.getByTestId('open-hub').click();
  await expect(form.getByTestId('hub-url')).toHaveValue('http://127.0.0.1:9/hub');
  await expect(form.getByTestId('hub-token')).toHaveValue('');
});
