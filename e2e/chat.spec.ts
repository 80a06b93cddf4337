import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { openStudioEachTest } from './studio-page.ts';
import { loadCheckpoint } from '../src/core/checkpoint.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { decoderSpecFromConfig, decoderTensors } from '../src/model/graph/decoder-spec.ts';
import { checkpointWeights } from '../src/model/graph/external-data.ts';
import { ReferenceDecoder } from '../src/model/reference-forward.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';

// The chat preview: the demo triplet merged live in the preview worker (f32, as `chatvec merge --dtype f32`),
// greedy ids checked against the plain TypeScript reference forward pass (f64, src/model/reference-forward.ts)
// run here on the CLI's f32 merge with the CLI's prompt ids, and against the CLI's `generate` (the same ORT graph in Node).

const PROMPT = 'hello';
let dir: string;
/** CLI greedy ids for PROMPT, 16 new tokens, by α. */
const cliIds = new Map<number, number[]>();
/** The reference forward pass's greedy ids on the same merged weights and prompt ids, by α. */
const refIds = new Map<number, number[]>();
/** The CLI's prompt ids for PROMPT (chat template, no system prompt: what the page sends too). */
let promptIds: number[] = [];

/** Greedy ids of the reference forward pass on the merged folder `out`, stopping at the tokenizer's eos ids as the preview does. */
async function referenceGenerate(out: string, prompt: number[], maxNewTokens: number): Promise<number[]> {
  const json = (name: string) => (existsSync(join(out, name)) ? (JSON.parse(readFileSync(join(out, name), 'utf8')) as Record<string, unknown>) : null);
  const ck = await loadCheckpoint(new NodeFileTree(out));
  try {
    const spec = decoderSpecFromConfig(ck.config!);
    const read = checkpointWeights(ck);
    const weights = new Map<string, Float32Array>();
    for (const t of decoderTensors(spec)) weights.set(t.name, await read(t.name, t.shape));
    const tokenizer = await loadTokenizer({ tokenizerJson: json('tokenizer.json')!, tokenizerConfig: json('tokenizer_config.json') ?? {}, generationConfig: json('generation_config.json'), config: ck.config! });
    return new ReferenceDecoder(spec, weights).greedy(prompt, maxNewTokens, tokenizer.eosTokenIds);
  } finally {
    await ck.close();
  }
}

function cliGenerate(alpha: number, dtype = 'f32'): { promptIds: number[]; ids: number[]; out: string } {
  const out = join(dir, `alpha-${alpha}-${dtype}`);
  execFileSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'merge', '--base', 'public/demo/base', '--chat', 'public/demo/chat', '--cp', 'public/demo/cp', '--alpha', String(alpha), '--dtype', dtype, '--out', out], { stdio: 'pipe' });
  const json = execFileSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'generate', '--model', out, '--prompt', PROMPT, '--greedy', '--max-new-tokens', '16', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const r = JSON.parse(json) as { prompt_ids: number[]; ids: number[] };
  return { promptIds: r.prompt_ids, ids: r.ids, out };
}

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chatvec-chat-'));
  for (const alpha of [1, 0.5]) {
    const cli = cliGenerate(alpha);
    promptIds = cli.promptIds;
    cliIds.set(alpha, cli.ids);
    refIds.set(alpha, await referenceGenerate(cli.out, cli.promptIds, 16));
  }
  // The page's first turn is PROMPT alone, rendered the same way: 18 prompt tokens (checked on the page below).
  expect(promptIds).toHaveLength(18);
  // At α = 1 the merge answers in the chat format: 10 tokens, then <|eot_id|>; at α = 0.5 it runs to the limit.
  expect([cliIds.get(1)!.length, cliIds.get(1)!.at(-1), cliIds.get(0.5)!.length]).toEqual([11, 3997, 16]);
  // The ORT graph in Node agrees with the reference forward pass (so a page mismatch below is the page's).
  expect(cliIds.get(1)).toEqual(refIds.get(1));
  expect(cliIds.get(0.5)).toEqual(refIds.get(0.5));
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

openStudioEachTest();

async function openLive(page: Page, backend: 'wasm' | 'webgpu'): Promise<void> {
  const chat = page.getByTestId('chat');
  await chat.scrollIntoViewIfNeeded();
  await chat.getByTestId('chat-model').selectOption('live');
  await chat.getByTestId('chat-backend').selectOption(backend);
  await chat.getByTestId('chat-open').click();
  await expect(chat.getByTestId('chat-info')).toContainText('demo merge, α = 1', { timeout: 60_000 });
  await expect(chat.getByTestId('chat-info')).toHaveAttribute('data-backend', backend);
  await chat.getByTestId('chat-show-settings').click();
  await chat.getByTestId('chat-max-tokens').fill('16');
}

/** Send `text` and wait for the answer; returns its ids and every length its text had while it streamed. */
async function send(page: Page, text: string): Promise<{ ids: number[]; lengths: number[] }> {
  const chat = page.getByTestId('chat');
  const before = await chat.getByTestId('chat-assistant').count();
  // Record the text of the new assistant message at every DOM change while it streams.
  await page.evaluate(() => {
    const w = window as unknown as { __lengths: number[]; __observer?: MutationObserver };
    w.__lengths = [];
    w.__observer?.disconnect();
    const list = document.querySelector('[data-testid="chat-messages"]')!;
    w.__observer = new MutationObserver(() => {
      const last = [...list.querySelectorAll('[data-testid="chat-assistant"]')].pop();
      const body = last?.textContent?.replace(/^assistant/, '') ?? '';
      if (last?.getAttribute('data-done') === 'false' && body !== '…') w.__lengths.push(body.length);
    });
    w.__observer.observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await chat.getByTestId('chat-input').fill(text);
  await chat.getByTestId('chat-send').click();
  const reply = chat.getByTestId('chat-assistant').nth(before);
  await expect(reply).toHaveAttribute('data-done', 'true', { timeout: 60_000 });
  const ids = ((await reply.getAttribute('data-ids')) ?? '').split(',').filter(Boolean).map(Number);
  const lengths = await page.evaluate(() => (window as unknown as { __lengths: number[] }).__lengths);
  return { ids, lengths };
}

test('chat on the live demo merge: streamed tokens, the CLI\'s greedy ids, live α and the α comparison', async ({ page }) => {
  test.setTimeout(180_000);
  await openLive(page, 'wasm');
  const chat = page.getByTestId('chat');

  const first = await send(page, PROMPT);
  expect(first.ids).toEqual(refIds.get(1));
  expect(first.ids).toEqual(cliIds.get(1));
  // The text grew token by token, not all at once.
  expect(new Set(first.lengths.filter((n) => n > 0)).size).toBeGreaterThan(1);
  await expect(chat.getByTestId('chat-rate')).toContainText(/11 tokens at \d+(\.\d)? tokens\/s · prompt 18 tokens \(0 from the cache\)/);

  // The second turn reuses the first turn's keys/values.
  await send(page, 'and then?');
  // (The re-tokenized first answer may split differently from the generated ids, so the shared prefix can end inside the first turn.)
  await expect(chat.getByTestId('chat-rate')).toContainText(/prompt \d+ tokens \(\d+ from the cache\)/);
  const reused = Number(/\((\d+) from the cache\)/.exec((await chat.getByTestId('chat-rate').textContent()) ?? '')![1]);
  expect(reused).toBeGreaterThanOrEqual(17);

  await chat.getByTestId('chat-show-prompt').click();
  const prompt = chat.getByTestId('chat-prompt');
  await expect(prompt).toContainText('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>');
  await expect(prompt).toHaveCSS('font-family', /mono/i);

  // Live α: the slider re-merges in memory, reports its latency and changes the answer.
  await chat.getByTestId('chat-alpha').fill('0.5');
  await expect(chat.getByTestId('chat-alpha-latency')).toHaveText(/^re-merge \d+ ms \+ rebind \d+ ms$/, { timeout: 30_000 });
  await expect(chat.getByTestId('chat-info')).toContainText('demo merge, α = 0.5');
  await chat.getByTestId('chat-clear').click();
  const half = await send(page, PROMPT);
  expect(half.ids).toEqual(refIds.get(0.5));
  expect(half.ids).toEqual(cliIds.get(0.5));
  expect(half.ids).not.toEqual(first.ids);
  await page.screenshot({ path: 'test-results/chat.png', fullPage: false });

  // Compare: 3 α values + the CP model, greedy, side by side, on a fresh conversation of just PROMPT.
  await chat.getByTestId('chat-clear').click();
  await chat.getByTestId('chat-input').fill(PROMPT);
  await chat.getByTestId('compare-run').click();
  const columns = chat.getByTestId('compare-column');
  await expect(columns).toHaveCount(4, { timeout: 60_000 });
  for (let i = 0; i < 4; i++) await expect(columns.nth(i)).toHaveAttribute('data-done', 'true', { timeout: 60_000 });
  await expect(columns.locator('h4')).toHaveText(['α = 0', 'α = 0.5', 'α = 1', 'CP model']);
  const colIds = await columns.evaluateAll((els) => els.map((e) => (e.getAttribute('data-ids') ?? '').split(',').filter(Boolean).map(Number)));
  expect(colIds[1]).toEqual(refIds.get(0.5));
  expect(colIds[2]).toEqual(refIds.get(1));
  // α = 0 is cp plus nothing: the CP model's answer.
  expect(colIds[0]).toEqual(colIds[3]);
  // α = 1 closes its answer with <|eot_id|>; cp alone and α = 0.5 run to the 16-token limit.
  expect(colIds.map((ids) => ids.length)).toEqual([16, 16, 11, 16]);
  for (let i = 0; i < 4; i++) {
    expect(((await columns.nth(i).getByTestId('compare-text').textContent()) ?? '').length).toBeGreaterThan(0);
  }
  await expect(chat.getByTestId('compare-run')).toHaveText('Compare', { timeout: 30_000 });
  // The comparison puts the live model back at its α.
  await expect(chat.getByTestId('chat-info')).toContainText('demo merge, α = 0.5');
  await chat.getByTestId('compare').screenshot({ path: 'test-results/compare.png' });
});

test('chat with a model merged into the library: the CLI\'s greedy ids for the same merge', async ({ page }) => {
  test.setTimeout(120_000);
  // The studio's merge keeps cp's dtype (auto), as the CLI does without --dtype.
  const cli = cliGenerate(0.5, 'auto');
  await page.getByTestId('vector-0').getByTestId('alpha').fill('0.5');
  await expect(page.getByTestId('report-recipe')).toContainText('α = 0.5');
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  await page.getByTestId('merge-name').fill('chat me');
  await page.getByTestId('merge-start').click();
  await expect(page.getByTestId('merge-done')).toContainText('Merged chat me', { timeout: 60_000 });

  const chat = page.getByTestId('chat');
  await chat.scrollIntoViewIfNeeded();
  const option = chat.getByTestId('chat-model').locator('option', { hasText: 'Library: chat me' });
  await expect(option).toHaveCount(1, { timeout: 10_000 });
  await chat.getByTestId('chat-model').selectOption({ label: 'Library: chat me' });
  await chat.getByTestId('chat-backend').selectOption('wasm');
  await chat.getByTestId('chat-open').click();
  await expect(chat.getByTestId('chat-info')).toContainText('chat me', { timeout: 60_000 });
  // A library model has no live α.
  await expect(chat.getByTestId('chat-alpha')).toHaveCount(0);
  await chat.getByTestId('chat-show-settings').click();
  await chat.getByTestId('chat-max-tokens').fill('16');
  const reply = await send(page, PROMPT);
  expect(reply.ids).toEqual(cli.ids);
});

test('the live merge follows the recipe\'s models: a cp from a local folder is read through the studio worker', async ({ page }) => {
  test.setTimeout(120_000);
  // The demo cp's files under another name: same weights, so the same greedy ids as the demo merge at α = 1.
  const mycp = join(dir, 'mycp');
  cpSync('public/demo/cp', mycp, { recursive: true });
  const cp = page.getByTestId('slot-cp');
  await cp.getByTestId('folder-input').setInputFiles(mycp);
  await expect(cp.getByTestId('slot-ref')).toHaveText('local/mycp');
  await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');

  const chat = page.getByTestId('chat');
  await chat.scrollIntoViewIfNeeded();
  await expect(chat.getByTestId('chat-model').locator('option[value="live"]')).toHaveText('Recipe merge (live α)');
  await chat.getByTestId('chat-model').selectOption('live');
  await chat.getByTestId('chat-backend').selectOption('wasm');
  await chat.getByTestId('chat-open').click();
  await expect(chat.getByTestId('chat-info')).toContainText('merge of local/mycp + α·(demo/chat − demo/base), α = 1', { timeout: 60_000 });
  await chat.getByTestId('chat-show-settings').click();
  await chat.getByTestId('chat-max-tokens').fill('16');
  expect((await send(page, PROMPT)).ids).toEqual(cliIds.get(1));

  await chat.getByTestId('chat-alpha').fill('0.5');
  await expect(chat.getByTestId('chat-info')).toContainText('merge of local/mycp + α·(demo/chat − demo/base), α = 0.5', { timeout: 30_000 });
  await chat.getByTestId('chat-clear').click();
  expect((await send(page, PROMPT)).ids).toEqual(cliIds.get(0.5));
});

test('the WebGPU backend gives the reference forward pass\'s greedy ids', async ({ page }) => {
  test.setTimeout(180_000);
  const select = page.getByTestId('chat-backend');
  // The adapter check is asynchronous: wait until the select says what it found.
  await expect(select).not.toHaveAttribute('data-webgpu', 'pending', { timeout: 30_000 });
  test.skip((await select.getAttribute('data-webgpu')) === 'none', 'this Chromium offers no WebGPU adapter');
  console.log(`WebGPU preview: ${await select.getAttribute('data-webgpu')} weights`);
  await openLive(page, 'webgpu');
  const { ids } = await send(page, PROMPT);
  await expect(page.getByTestId('chat-rate')).toContainText('prompt 18 tokens');
  expect(ids).toEqual(refIds.get(1));
  expect(ids).toEqual(cliIds.get(1));
});
