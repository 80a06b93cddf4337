/**
 * The studio against a local Hugging Face Hub (e2e/hub-server.ts) on another port than the page, so CORS, the
 * cross-origin CDN redirect and COEP are real: models loaded through the Hub form, merged into OPFS and compared
 * with the CLI's merge of the same folders; gated repositories and the token; network faults; the OPFS block cache.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { writeTriplet } from '../scripts/fixtures.ts';
import { formatBytes } from '../src/core/format.ts';
import { startHubServer, type HubServer, type LoggedRequest } from './hub-server.ts';
import { expect, NAMES_INPUTS, opfsLibraryIds, openStudio, setAlpha, test } from './opfs-fixtures.ts';

const TOKEN = 'hf_right_token_for_the_gated_repo';
const ROLES = ['base', 'chat', 'cp'] as const;
type Role = (typeof ROLES)[number];
const REPO: Record<Role, string> = { base: 'org/base', chat: 'org/chat', cp: 'org/cp' };
const WEIGHTS = 'model.safetensors';
/** The studio's OPFS cache stores 16 MiB blocks: block 0 holds the header (read when a slot loads), block 1 the rest. */
const BLOCK = 16 * 1024 * 1024;

test.describe.configure({ timeout: 150_000 });

let dir: string;
let models: Record<Role, string>;
let server: HubServer;
/** The CLI's merge of the folders on disk, by α: every file's SHA-256, and the text of the files naming the inputs. */
const cli = new Map<string, Map<string, string>>();

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chatvec-e2e-hub-'));
  // One 31 MB shard per model: more than a cache block, so a merge still downloads after the slots have loaded.
  models = await writeTriplet(join(dir, 'models'), { arch: 'llama', dtype: 'BF16', hiddenSize: 512, layers: 2, heads: 8, kvHeads: 4, intermediate: 1536, vocab: 9000, shards: 1, seed: 11 });
  expect(statSync(join(models.cp, WEIGHTS)).size).toBeGreaterThan(BLOCK);
  server = await startHubServer({ repos: { ...Object.fromEntries(ROLES.map((r) => [REPO[r], models[r]])), 'org/gated': models.chat }, gated: { 'org/gated': TOKEN } });
  for (const alpha of ['0.5', '1']) cli.set(alpha, cliMerge(alpha));
});

test.afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.beforeEach(() => {
  server.control.setFaults({});
  server.control.clearLog();
});

/** `chatvec merge` of the three folders, with the folders it records written as the studio names the Hub inputs. */
function cliMerge(alpha: string): Map<string, string> {
  const out = join(dir, `cli-${alpha}`);
  execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'merge', '--base', models.base, '--chat', models.chat, '--cp', models.cp, '--alpha', alpha, '--out', out], { stdio: 'pipe' });
  const files = new Map<string, string>();
  for (const name of readdirSync(out).sort()) {
    const bytes = readFileSync(join(out, name));
    if (!NAMES_INPUTS.includes(name)) files.set(name, createHash('sha256').update(bytes).digest('hex'));
    else files.set(name, ROLES.reduce((text, r) => text.replaceAll(models[r], `${REPO[r]}@main`), bytes.toString('utf8')));
  }
  return files;
}

/** A merged model's files in OPFS, read in the page: SHA-256 of each, the text of those naming the inputs, commits blanked. */
async function opfsModel(page: Page, id: string): Promise<Map<string, string>> {
  const files = await page.evaluate(
    async ({ id, texts }) => {
      const folder = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('library')).getDirectoryHandle(id);
      const out: [string, string][] = [];
      for await (const [name, handle] of (folder as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        if (handle.kind !== 'file' || name.startsWith('.')) continue;
        const file = await (handle as FileSystemFileHandle).getFile();
        if (texts.includes(name)) out.push([name, await file.text()]);
        else out.push([name, [...new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()))].map((b) => b.toString(16).padStart(2, '0')).join('')]);
      }
      return out.sort(([a], [b]) => (a < b ? -1 : 1));
    },
    { id, texts: NAMES_INPUTS },
  );
  const commits = ROLES.map((r) => server.control.commitOf(REPO[r])!);
  return new Map(files.map(([name, v]) => [name, NAMES_INPUTS.includes(name) ? commits.reduce((text, c) => text.replaceAll(c, '—'), v) : v]));
}

/** Weights, config and tokenizer files byte for byte (by SHA-256); model card and recipes with the inputs named alike. */
function expectSameAsCli(studio: Map<string, string>, alpha: string): void {
  const want = cli.get(alpha)!;
  expect([...studio.keys()]).toEqual([...want.keys()]);
  for (const [name, value] of want) expect({ name, value: studio.get(name) }).toEqual({ name, value });
}

const slotOf = (page: Page, role: Role) => page.getByTestId(`slot-${role}`);

/** Open a slot's Hub form and fill it (the endpoint is shared by every slot); returns the form. */
async function fillHubForm(page: Page, role: Role, repo: string, token?: string): Promise<Locator> {
  const slot = slotOf(page, role);
  await slot.getByTestId('open-hub').click();
  const form = slot.getByTestId('hub-form');
  await form.getByTestId('hub-url').fill(server.url);
  await form.getByTestId('hub-repo').fill(repo);
  await form.getByTestId('hub-revision').fill('main');
  if (token !== undefined) await form.getByTestId('hub-token').fill(token);
  return form;
}

async function loadFromHub(page: Page, role: Role, repo = REPO[role]): Promise<void> {
  const form = await fillHubForm(page, role, repo);
  await form.getByTestId('hub-load').click();
  await expect(slotOf(page, role).getByTestId('slot-ref')).toHaveText(`${repo}@main`);
  await expect(slotOf(page, role)).toHaveAttribute('data-status', 'ready');
}

/** The studio with base, chat and cp from the Hub, planned at α. */
async function hubStudio(page: Page, alpha: string, query = ''): Promise<void> {
  await openStudio(page, query);
  for (const role of ROLES) await loadFromHub(page, role);
  for (const role of ROLES) await expect(slotOf(page, role).getByTestId('slot-source')).toContainText(`commit ${server.control.commitOf(REPO[role])!.slice(0, 10)}`);
  await setAlpha(page, alpha);
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
}

/** Start a merge under `name` and return the id of the library folder it writes. */
async function startMerge(page: Page, name: string): Promise<string> {
  const before = new Set(await opfsLibraryIds(page));
  await page.getByTestId('merge-name').fill(name);
  await page.getByTestId('merge-start').click();
  let id = '';
  await expect.poll(async () => (id = (await opfsLibraryIds(page)).find((i) => !before.has(i)) ?? ''), { timeout: 30_000 }).not.toBe('');
  return id;
}

async function merge(page: Page, name: string): Promise<string> {
  const id = await startMerge(page, name);
  await expect(page.getByTestId('merge-done')).toContainText(`Merged ${name}:`, { timeout: 60_000 });
  await expect(page.getByTestId('merge-error')).toHaveCount(0);
  return id;
}

const requests = (pred: (r: LoggedRequest) => boolean) => server.control.log.filter(pred);
/** Requests that carry weight bytes: the CDN's answers for the weights, and the Hub's own when it serves them. */
const weightRequests = () => requests((r) => r.path.endsWith('.safetensors') && (r.server === 'cdn' || r.path.includes('/resolve/')) && r.method === 'GET' && r.range !== 'bytes=0-0');
const rangeOf = (r: LoggedRequest): [number, number] => {
  const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
  if (!m) throw new Error(`not a single closed range: ${r.range}`);
  return [Number(m[1]), Number(m[2])];
};
const sizeOf = (role: Role) => statSync(join(models[role], WEIGHTS)).size;

/**
 * Every byte of a model's weights came from the server exactly once: the byte ranges the logged requests delivered
 * do not overlap and cover the file. Byte 0 may be missing: @huggingface/hub's WebBlob probes each download with
 * `Range: bytes=0-0` (left out here), and Chromium's HTTP cache then serves that byte itself and asks from byte 1.
 */
function expectDownloadedOnce(role: Role): void {
  const parts = weightRequests()
    .filter((r) => r.path.includes(`/${REPO[role]}/`) && r.bytesSent > 0)
    .map((r) => [rangeOf(r)[0], rangeOf(r)[0] + r.bytesSent])
    .sort((a, b) => a[0] - b[0]);
  expect(parts.length, `downloads of ${REPO[role]}`).toBeGreaterThan(0);
  expect(parts[0][0]).toBeLessThanOrEqual(1);
  for (let i = 1; i < parts.length; i++) expect(parts[i][0], `${REPO[role]}: bytes from ${parts[i][0]}`).toBe(parts[i - 1][1]);
  expect(parts.at(-1)![1]).toBe(sizeOf(role));
}

/** Every file the studio reads of a Hub model goes through the cache: config, tokenizer files and weights. */
const cachedFiles = () => ROLES.length * readdirSync(models.cp).length;

/** The library view's Hub cache list, opened, once it lists `files` files. */
async function hubCache(page: Page, files: number): Promise<Locator> {
  await page.getByTestId('library-refresh').click();
  const cache = page.getByTestId('hub-cache');
  if ((await cache.getAttribute('open')) === null) await cache.locator('summary').click();
  await expect(cache.getByTestId('hub-cache-entry')).toHaveCount(files);
  return cache;
}

async function evictAll(page: Page): Promise<void> {
  const cache = await hubCache(page, cachedFiles());
  const rows = cache.getByTestId('hub-cache-entry');
  for (let n = cachedFiles(); n > 0; n--) {
    await rows.first().getByTestId('hub-cache-evict').click();
    await expect(rows).toHaveCount(n - 1);
  }
  await expect(cache.locator('summary')).toHaveText('Hub cache: empty');
}

/**
 * Empty Chromium's HTTP cache: the CDN answers with `Cache-Control: immutable`, so the browser keeps the ranges it
 * fetched and would answer the same range again without asking the server, hiding what the OPFS cache does.
 */
async function clearHttpCache(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.clearBrowserCache');
  await cdp.detach();
}

/** Folders under OPFS `hub-cache/` (one per cached file). */
async function opfsCacheFolders(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const names: string[] = [];
    const cache = await root.getDirectoryHandle('hub-cache').catch(() => null);
    if (!cache) return names;
    for await (const [name, handle] of (cache as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) if (handle.kind === 'directory') names.push(name);
    return names.sort();
  });
}

test('base, chat and cp from the Hub form merge at α 0.5 into OPFS, byte-identical to the CLI', async ({ page }) => {
  await openStudio(page);
  const form = await fillHubForm(page, 'base', REPO.base);
  await page.evaluate(() => window.scrollTo(0, 0));
  await slotOf(page, 'base').screenshot({ path: 'test-results/hub-form-filled.png' });
  await form.getByTestId('hub-load').click();
  await expect(slotOf(page, 'base').getByTestId('slot-ref')).toHaveText('org/base@main');
  await expect(slotOf(page, 'base').getByTestId('slot-source')).toHaveText(`From Hub org/base@main on ${server.url} · commit ${server.control.commitOf('org/base')!.slice(0, 10)}`);
  await loadFromHub(page, 'chat');
  await loadFromHub(page, 'cp');
  await expect(slotOf(page, 'cp').getByTestId('summary-vocab')).toHaveText('9,000');
  await setAlpha(page, '0.5');
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  // The page is on another origin than the Hub: every call crossed it (CORS), the weights through the CDN origin.
  expect(requests((r) => r.server === 'cdn' && r.path.endsWith(WEIGHTS)).length).toBeGreaterThan(0);

  const id = await merge(page, 'hub α 0.5');
  const files = await opfsModel(page, id);
  expectSameAsCli(files, '0.5');
  expect(files.get('chatvec-recipe.json')).toContain('"cp": "org/cp@main"');
  const card = page.locator(`[data-testid="library-entry"][data-id="${id}"]`);
  await expect(card.getByTestId('library-entry-status')).toHaveText('complete');
  // Each input with the commit it was read at.
  await expect(card.getByTestId('library-entry-inputs').locator('li')).toHaveText(
    (['cp', 'base', 'chat'] as const).map((role) => `${role} ${REPO[role]}@main @ ${server.control.commitOf(REPO[role])!.slice(0, 12)} — ${formatBytes(sizeOf(role))}, 21 tensors`),
  );
});

test('a gated repository: 401 without a token, 403 with a wrong one, loads with the right one; the CDN never sees it', async ({ page }) => {
  await openStudio(page);
  const chat = slotOf(page, 'chat');
  await (await fillHubForm(page, 'chat', 'org/gated')).getByTestId('hub-load').click();
  await expect(chat.getByTestId('slot-error')).toContainText(
    `org/gated@main/config.json: this repository is gated or private: paste an access token with read access. No token was given; create one at ${server.url}/settings/tokens`,
  );
  await expect(chat.getByTestId('slot-error')).toContainText('Still using demo/chat.');
  await page.evaluate(() => window.scrollTo(0, 0));
  await chat.screenshot({ path: 'test-results/hub-gated-401.png' });

  await (await fillHubForm(page, 'chat', 'org/gated', 'hf_someone_elses_token')).getByTestId('hub-load').click();
  await expect(chat.getByTestId('slot-error')).toContainText(
    `org/gated@main/config.json: your token has no access: accept the model's license on the Hub / check the token. Accept the license at ${server.url}/org/gated with the account that owns the token, and check that the token has read access (${server.url}/settings/tokens)`,
  );
  await page.evaluate(() => window.scrollTo(0, 0));
  await chat.screenshot({ path: 'test-results/hub-gated-403.png' });
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBeNull();

  server.control.clearLog();
  await (await fillHubForm(page, 'chat', 'org/gated', TOKEN)).getByTestId('hub-load').click();
  await expect(chat.getByTestId('slot-ref')).toHaveText('org/gated@main');
  await expect(chat.getByTestId('slot-error')).toHaveCount(0);
  await expect(chat.getByTestId('summary-vocab')).toHaveText('9,000');
  const cdn = requests((r) => r.server === 'cdn');
  const resolves = requests((r) => r.path.startsWith('/org/gated/resolve/'));
  expect(cdn.length).toBeGreaterThan(0);
  expect(cdn.filter((r) => r.authorization)).toEqual([]);
  expect(resolves.length).toBeGreaterThan(0);
  expect(resolves.filter((r) => !r.authorization || r.status === 401 || r.status === 403)).toEqual([]);

  // In memory only, unless "remember" is ticked.
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBeNull();
  expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(TOKEN);
  await chat.getByTestId('open-hub').click();
  await chat.getByTestId('hub-remember').check();
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBe(TOKEN);
  await chat.getByTestId('hub-remember').uncheck();
  expect(await page.evaluate(() => localStorage.getItem('chatvec.hub.token'))).toBeNull();
  expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(TOKEN);
});

test('cut connections and 5xx answers within the retry budget: same bytes, retries ask only for what is missing', async ({ page }) => {
  await hubStudio(page, '0.5');
  // Loading the slots cached the first block of each file; without it the merge downloads every byte itself.
  await evictAll(page);
  await clearHttpCache(page);
  server.control.clearLog();
  const match = { server: 'cdn' as const, path: WEIGHTS };
  // At most 5 failures, even if they all hit one read: within the 5 retries each read may make.
  server.control.setFaults({ cut: { afterBytes: 1000, count: 3, match }, status: { code: 503, count: 2, match } });
  const id = await merge(page, 'faulty network');
  expectSameAsCli(await opfsModel(page, id), '0.5');

  const log = server.control.log;
  const cuts = log.filter((r) => r.fault === 'cut');
  const failed = log.filter((r) => r.fault === 'status');
  expect(cuts.length).toBe(3);
  expect(failed.length).toBe(2);
  for (const cut of cuts) {
    expect(cut.bytesSent).toBe(1000);
    const [start, end] = rangeOf(cut);
    const later = log.slice(log.indexOf(cut) + 1).filter((r) => r.server === 'cdn' && r.path === cut.path);
    expect(later.map((r) => r.range), `resume of ${cut.path} ${cut.range}`).toContain(`bytes=${start + 1000}-${end}`);
  }
  for (const f of failed) {
    const later = log.slice(log.indexOf(f) + 1).filter((r) => r.server === 'cdn' && r.path === f.path);
    expect(later.map((r) => r.range), `retry of ${f.path} ${f.range}`).toContain(f.range);
  }
  // Not a byte downloaded twice.
  for (const role of ROLES) expectDownloadedOnce(role);
});

test('past the retry budget the merge stops with hub-range-failed; Resume then completes with the same bytes', async ({ page }) => {
  // A resume point after every chunk.
  await hubStudio(page, '1', '?checkpointBytes=1');
  // Block 0 of each file is cached by now; the rest never comes: every weight download is cut before its first byte
  // (a byte delivered would be kept by Chromium's HTTP cache, which would then answer part of the later reads).
  server.control.setFaults({ cut: { afterBytes: 0, count: 1_000_000, match: { server: 'cdn', path: WEIGHTS } } });
  const id = await startMerge(page, 'network gone');
  const error = page.getByTestId('merge-error');
  await expect(error).toHaveText(
    /^org\/(base|chat|cp)@main\/model\.safetensors: could not download bytes 16777216-(\d+) after 6 attempts \(0 of \d+ bytes received\); last error: .+\. Check the network connection, then run the merge again with resume \(`--resume` on the command line\): the part already written is kept$/,
    { timeout: 60_000 },
  );
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByTestId('merge-panel').screenshot({ path: 'test-results/hub-fault-error.png' });
  const banner = page.locator(`[data-testid="pending-merge"][data-id="${id}"]`);
  await expect(banner.getByTestId('pending-name')).toHaveText('network gone');
  const percent = Number((await banner.getByTestId('pending-percent').textContent())!.replace(/% done$/, ''));
  expect(percent).toBeGreaterThan(0);
  expect(percent).toBeLessThan(100);
  // The three inputs asked for their block 1 together, each 6 times (the first try and 5 retries), then gave up.
  // An attempt is cut at WebBlob's 1-byte probe, or at its range request when Chromium's HTTP cache answered the probe.
  await expect.poll(() => requests((r) => r.fault === 'cut').length, { timeout: 30_000 }).toBe(18);
  for (const role of ROLES) {
    const tries = requests((r) => r.fault === 'cut' && r.path.includes(`/${REPO[role]}/`));
    expect(tries.length).toBe(6);
    for (const r of tries) expect(['bytes=0-0', `bytes=${BLOCK}-${sizeOf(role) - 1}`]).toContain(r.range);
  }

  server.control.setFaults({});
  server.control.clearLog();
  await banner.getByTestId('pending-resume').click();
  await expect(page.getByTestId('merge-done')).toContainText('Merged network gone:', { timeout: 60_000 });
  await expect(page.getByTestId('pending-merge')).toHaveCount(0);
  expectSameAsCli(await opfsModel(page, id), '1');
  // Only the blocks that never arrived were downloaded, once each.
  const downloads = weightRequests();
  expect(downloads.map((r) => r.range).sort()).toEqual(ROLES.map((role) => `bytes=${BLOCK}-${sizeOf(role) - 1}`));
});

test('a re-merge with another α, after a reload, downloads no weight bytes; the cache is listed and can be evicted', async ({ page }) => {
  await hubStudio(page, '0.5');
  expectSameAsCli(await opfsModel(page, await merge(page, 'first α')), '0.5');
  expect(weightRequests().length).toBeGreaterThan(0);

  // The slots load again from the Hub (commit and listing), the blocks come from OPFS.
  await page.reload();
  for (const role of ROLES) await expect(slotOf(page, role).getByTestId('slot-ref')).toHaveText(`${REPO[role]}@main`);
  await expect(page.getByTestId('status')).toHaveText('Ready to merge');
  await clearHttpCache(page);
  server.control.clearLog();
  await setAlpha(page, '1');
  expectSameAsCli(await opfsModel(page, await merge(page, 'second α')), '1');
  expect(weightRequests()).toEqual([]);
  expect(requests((r) => r.server === 'cdn' || r.path.includes('/resolve/'))).toEqual([]);

  const cache = await hubCache(page, cachedFiles());
  const rows = cache.getByTestId('hub-cache-entry');
  const listed = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
  for (const role of ROLES) expect(listed).toContainEqual([REPO[role], server.control.commitOf(REPO[role])!.slice(0, 12), WEIGHTS]);
  expect((await opfsCacheFolders(page)).length).toBe(listed.length);
  await expect(cache.locator('summary')).toHaveText(new RegExp(`^Hub cache: ${listed.length} files, \\d+\\.\\d MB$`));
  await page.evaluate(() => window.scrollTo(0, 0));
  await cache.screenshot({ path: 'test-results/hub-cache.png' });

  await evictAll(page);
  expect(await opfsCacheFolders(page)).toEqual([]);
  // Evicted for real: the next merge downloads the weights again.
  await clearHttpCache(page);
  server.control.clearLog();
  await merge(page, 'third α');
  for (const role of ROLES) expectDownloadedOnce(role);
});
