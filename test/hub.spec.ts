import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileDownloadInfo, downloadFile } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer, type LoggedRequest } from '../e2e/hub-server.ts';
import { writeTriplet } from '../scripts/fixtures.ts';
import { loadCheckpoint } from '../src/core/checkpoint.ts';
import { CancelledError, ChatvecError } from '../src/core/errors.ts';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import type { MergeOptions } from '../src/core/merge/engine.ts';
import type { Recipe } from '../src/core/recipe.ts';
import type { FileTree } from '../src/core/sources/byte-source.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { NodeOutputFolder } from '../src/core/sources/node-output.ts';
import { HubTree, type HubTreeParams } from '../src/hub/hub-tree.ts';
import { MemoryTensorCache } from '../src/hub/memory-tensor-cache.ts';
import { recipeFor, tempDir, type Paths } from './helpers.ts';

const TOKEN = 'hf_right_token_for_the_gated_repo';
const REFS: Paths = { base: 'org/base', chat: 'org/chat', cp: 'org/cp' };
/** Small chunks: many range requests per tensor, so faults land inside tensors. */
const CHUNK_ELEMENTS = 1024;

let dir: string;
let local: Paths;
let other: Paths;
let server: HubServer;
const reference = new Map<number, Map<string, Buffer>>();

beforeAll(async () => {
  dir = await tempDir('chatvec-hub-');
  local = await writeTriplet(join(dir, 'models'), { arch: 'llama', dtype: 'BF16', shards: 2, seed: 3 });
  other = await writeTriplet(join(dir, 'other'), { arch: 'llama', dtype: 'BF16', shards: 1, seed: 4 });
  server = await startHubServer({
    repos: { 'org/base': local.base, 'org/chat': local.chat, 'org/cp': local.cp, 'org/gated': local.chat, 'org/moving': other.base },
    gated: { 'org/gated': TOKEN },
    pageSize: 3,
  });
  for (const alpha of [1, 0.5]) reference.set(alpha, await mergeLocal(alpha));
});
afterAll(() => server?.close());

/** The same merge from the folders on disk, labelled like Hub trees so that even README.md can be compared. */
async function mergeLocal(alpha: number): Promise<Map<string, Buffer>> {
  const out = join(dir, `local-${alpha}`);
  const byRef: Record<string, string> = { [REFS.base]: local.base, [REFS.chat]: local.chat, [REFS.cp]: local.cp };
  await mergeRecipe({ recipe: recipe(alpha), resolve: (ref) => labelled(new NodeFileTree(byRef[ref]), `${ref}@main`), out: new NodeOutputFolder(out), chunkElements: CHUNK_ELEMENTS });
  return readOutput(out);
}

function recipe(alpha: number): Recipe {
  return recipeFor(REFS, {}, alpha);
}

function labelled(tree: FileTree, label: string): FileTree {
  return { label, list: () => tree.list(), open: (p) => tree.open(p) };
}

async function readOutput(out: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(out)).sort()) files.set(name, await readFile(join(out, name)));
  return files;
}

function hub(repo: string, over: Partial<HubTreeParams> = {}): HubTree {
  return new HubTree({ repo, hubUrl: server.url, retryDelayMs: 1, ...over });
}

let outCount = 0;
async function mergeHub(alpha: number, tree: (ref: string) => FileTree, opts: Partial<MergeOptions> = {}, out = join(dir, `hub-${++outCount}`)) {
  const result = await mergeRecipe({ recipe: recipe(alpha), resolve: tree, out: new NodeOutputFolder(out), chunkElements: CHUNK_ELEMENTS, ...opts });
  return { out, result };
}

async function expectSameAs(alpha: number, out: string) {
  const got = await readOutput(out);
  const want = reference.get(alpha)!;
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [name, bytes] of want) {
    if (name === 'README.md') {
      // The model card names the commit each Hub input resolved to; the local merge has none.
      const card = got.get(name)!.toString('utf8');
      expect(card.match(/\| [0-9a-f]{40} \|/g)?.length, 'one commit per input in the model card').toBe(3);
      expect(card.replace(/\| [0-9a-f]{40} \|/g, '| — |'), 'README.md differs from the local merge').toBe(bytes.toString('utf8'));
      continue;
    }
    expect(got.get(name)!.equals(bytes), `${name} differs from the local merge`).toBe(true);
  }
}

const requests = (pred: (r: LoggedRequest) => boolean) => server.control.log.filter(pred);
const weightRequests = () => requests((r) => r.path.endsWith('.safetensors') && (r.path.includes('/resolve/') || r.path.startsWith('/cdn/')));
const rangeOf = (r: LoggedRequest) => {
  const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
};

async function caught(p: Promise<unknown>): Promise<ChatvecError> {
  const e = await p.then(() => null, (e: unknown) => e);
  expect(e).toBeInstanceOf(ChatvecError);
  return e as ChatvecError;
}

describe('HubTree over the local Hub server', () => {
  it('lists the files at the resolved commit and reads the same bytes as the local files', async () => {
    server.control.clearLog();
    const tree = hub('org/cp');
    expect(tree.commit).toBeUndefined();
    const files = await tree.list();
    expect(files).toEqual(await new NodeFileTree(local.cp).list());
    expect(tree.commit).toBe(server.control.commitOf('org/cp'));
    expect(tree.label).toBe('org/cp@main');
    // pageSize 3: the listing came in several pages, followed through the Link header.
    expect(requests((r) => r.path.startsWith('/api/models/org/cp/tree/')).length).toBe(Math.ceil(files.length / 3));

    for (const name of files) {
      const src = await tree.open(name);
      const want = await readFile(join(local.cp, name));
      expect(src.size).toBe(want.length);
      expect(Buffer.from(await src.read(0, src.size)).equals(want), name).toBe(true);
      const into = new Uint8Array(200);
      const mid = Math.floor(want.length / 3);
      const part = await src.read(mid, Math.min(150, want.length - mid), into);
      expect(part.buffer).toBe(into.buffer);
      expect(Buffer.from(part).equals(want.subarray(mid, mid + part.length))).toBe(true);
    }
    // Every file request named the commit, never the branch.
    const resolves = requests((r) => r.path.includes('/resolve/'));
    expect(resolves.length).toBeGreaterThan(0);
    for (const r of resolves) expect(r.path.startsWith(`/org/cp/resolve/${tree.commit}/`)).toBe(true);

    const ck = await loadCheckpoint(hub('org/cp'));
    const localCk = await loadCheckpoint(new NodeFileTree(local.cp));
    expect([...ck.tensors.keys()]).toEqual([...localCk.tensors.keys()]);
    expect(ck.config).toEqual(localCk.config);
    await Promise.all([ck.close(), localCk.close()]);
  });

  it('merges from three Hub repositories into the same bytes as from the folders', async () => {
    server.control.clearLog();
    let received = 0;
    const { out } = await mergeHub(1, (ref) => hub(ref, { onBytes: (n) => (received += n) }));
    await expectSameAs(1, out);
    expect(received).toBeGreaterThan(0);
    // Large files went through the CDN origin (a real cross-origin redirect), in range requests.
    const cdn = requests((r) => r.server === 'cdn');
    expect(cdn.length).toBeGreaterThan(10);
    expect(cdn.every((r) => r.status === 206)).toBe(true);
  });

  it('names the repository, revision and file when something is not there', async () => {
    const noRepo = await caught(hub('org/nothing').list());
    expect(noRepo.code).toBe('hub-not-found');
    expect(noRepo.message).toBe('org/nothing@main: repository or revision not found on the Hub (HTTP 404: Repository not found). Check the repository "org/nothing", the revision "main" and the Hub endpoint ' + server.url);
    const noRev = await caught(hub('org/cp', { revision: 'v9' }).list());
    expect(noRev.code).toBe('hub-not-found');
    expect(noRev.message).toContain('org/cp@v9: repository or revision not found on the Hub (HTTP 404: Invalid rev id: v9)');
    const tree = hub('org/cp');
    const noFile = await caught(tree.open('missing.json'));
    expect(noFile.code).toBe('hub-not-found');
    expect(noFile.message).toBe(`org/cp@main/missing.json: file not found on the Hub (HTTP 404: no "missing.json" at commit ${tree.commit}). Check the repository "org/cp", the revision "main", the file "missing.json" and the Hub endpoint ${server.url}`);
  });
});

describe('gated repositories and the access token', () => {
  it('asks for a token without one (401) and for access with a wrong one (403)', async () => {
    const none = await caught(loadCheckpoint(hub('org/gated')));
    expect(none.code).toBe('hub-unauthorized');
    expect(none.message).toBe(`org/gated@main/config.json: this repository is gated or private: paste an access token with read access. No token was given; create one at ${server.url}/settings/tokens`);

    const wrong = await caught(loadCheckpoint(hub('org/gated', { accessToken: 'hf_someone_else' })));
    expect(wrong.code).toBe('hub-forbidden');
    expect(wrong.message).toBe(`org/gated@main/config.json: your token has no access: accept the model's license on the Hub / check the token. Accept the license at ${server.url}/org/gated with the account that owns the token, and check that the token has read access (${server.url}/settings/tokens)`);

    const notAToken = await caught(Promise.resolve().then(() => hub('org/gated', { accessToken: 'abc123' })));
    expect(notAToken.code).toBe('hub-bad-token');
  });

  for (const cloudfront of [true, false]) {
    it(`reads with the right token and never sends it to the CDN (CDN ${cloudfront ? 'says' : 'does not say'} "cloudfront")`, async () => {
      server.control.setCloudfront(cloudfront);
      server.control.clearLog();
      try {
        const tree = hub('org/gated', { accessToken: TOKEN });
        const ck = await loadCheckpoint(tree);
        for (const t of ck.tensors.values()) {
          const want = (await readFile(join(local.chat, t.file))).subarray(t.offset, t.offset + t.byteLength);
          expect(Buffer.from(await t.source.read(t.offset, t.byteLength)).equals(want), t.name).toBe(true);
        }
        await ck.close();
      } finally {
        server.control.setCloudfront(true);
      }
      const cdn = requests((r) => r.server === 'cdn');
      const resolves = requests((r) => r.path.includes('/resolve/'));
      expect(cdn.length).toBeGreaterThan(0);
      expect(cdn.filter((r) => r.authorization)).toEqual([]);
      expect(resolves.length).toBeGreaterThan(0);
      expect(resolves.every((r) => r.authorization && r.status !== 401 && r.status !== 403)).toBe(true);
      // With "cloudfront", the library reads from the CDN address directly: one resolve per weight file, not per range.
      const weightResolves = resolves.filter((r) => r.path.endsWith('.safetensors'));
      if (cloudfront) expect(weightResolves.length).toBe(new Set(weightResolves.map((r) => r.path)).size);
      else expect(weightResolves.length).toBe(cdn.length);
    });
  }

  it('keeps the token from the CDN even with a fetch that would carry it across a redirect', async () => {
    // A fetch honouring `redirect: "manual"` but, when following, keeping every header (as some older clients do).
    const leaky: typeof fetch = async (input, init = {}) => {
      if (init.redirect === 'manual') return fetch(input, init);
      let url = String(input);
      for (;;) {
        const res = await fetch(url, { ...init, redirect: 'manual' });
        const location = res.headers.get('location');
        if (res.status !== 302 || !location) return res;
        url = new URL(location, url).href;
      }
    };
    server.control.setCloudfront(false);
    server.control.clearLog();
    try {
      // The library alone, given that fetch, leaks the token to the CDN…
      const info = await fileDownloadInfo({ repo: 'org/gated', path: 'model-00001-of-00002.safetensors', hubUrl: server.url, accessToken: TOKEN, fetch: leaky });
      await (await downloadFile({ repo: 'org/gated', path: 'model-00001-of-00002.safetensors', hubUrl: server.url, accessToken: TOKEN, fetch: leaky, downloadInfo: info!, xet: false }))!.slice(0, 8).arrayBuffer();
      expect(requests((r) => r.server === 'cdn' && r.authorization).length).toBeGreaterThan(0);
      // …HubTree does not.
      server.control.clearLog();
      const src = await hub('org/gated', { accessToken: TOKEN, fetch: leaky }).open('model-00001-of-00002.safetensors');
      expect(Buffer.from(await src.read(0, 8)).equals((await readFile(join(local.chat, 'model-00001-of-00002.safetensors'))).subarray(0, 8))).toBe(true);
      expect(requests((r) => r.server === 'cdn').length).toBeGreaterThan(0);
      expect(requests((r) => r.server === 'cdn' && r.authorization)).toEqual([]);
    } finally {
      server.control.setCloudfront(true);
    }
  });
});

describe('network faults', () => {
  it('retries cut bodies and 5xx answers, asking only for the bytes still missing', async () => {
    server.control.clearLog();
    server.control.setFaults({ cut: { afterBytes: 1000, count: 6, match: { path: '.safetensors' } }, status: { code: 503, count: 4, match: { path: '.safetensors' } } });
    try {
      const { out } = await mergeHub(1, (ref) => hub(ref));
      await expectSameAs(1, out);
    } finally {
      server.control.setFaults({});
    }
    const log = server.control.log;
    const cuts = log.filter((r) => r.fault === 'cut');
    expect(cuts.length).toBe(6);
    expect(log.filter((r) => r.fault === 'status').length).toBe(4);
    for (const cut of cuts) {
      expect(cut.bytesSent).toBe(1000);
      const later = log.slice(log.indexOf(cut) + 1).filter((r) => r.path === cut.path && r.server === cut.server);
      // A cut whole-file read (the index JSON) resumes with a range too.
      const [start, end] = rangeOf(cut) ?? [0, (await stat(join(local.base, cut.path.split('/').pop()!))).size - 1];
      expect(later.map((r) => r.range), `resume of ${cut.path} ${cut.range}`).toContain(`bytes=${start + 1000}-${end}`);
    }
  });

  it('gives up past the retry budget with hub-range-failed, and a resumed merge completes', async () => {
    const total = (await Promise.all([local.base, local.chat, local.cp].map(async (d) => (await readdir(d)).filter((f) => f.endsWith('.safetensors')).map(async (f) => (await readFile(join(d, f))).length)))).flat();
    const weightBytes = (await Promise.all(total)).reduce((a, b) => a + b, 0);
    let received = 0;
    let broken = false;
    const onBytes = (n: number) => {
      received += n;
      // Halfway through, the network goes bad for good: every weight response is cut before its first byte.
      if (!broken && received > weightBytes / 2) {
        broken = true;
        server.control.setFaults({ cut: { afterBytes: 0, count: 1_000_000, match: { path: '.safetensors' } } });
      }
    };
    const out = join(dir, 'hub-resume');
    let error: ChatvecError;
    try {
      // retryDelayMs 20: the failing read is the prefetched one; it must fail while the engine awaits it (see report).
      error = await caught(mergeHub(1, (ref) => hub(ref, { onBytes, retries: 2, retryDelayMs: 20 }), { checkpointBytes: 4096 }, out));
    } finally {
      server.control.setFaults({});
    }
    expect(broken).toBe(true);
    expect(error.code).toBe('hub-range-failed');
    expect(error.message).toMatch(
      /^org\/(base|chat|cp)@main\/model-0000[12]-of-00002\.safetensors: could not download bytes (\d+)-(\d+) after 3 attempts \(0 of \d+ bytes received\); last error: terminated \(other side closed\)\. Check the network connection, then run the merge again with resume \(`--resume` on the command line\): the part already written is kept$/,
    );

    server.control.clearLog();
    const { result } = await mergeHub(1, (ref) => hub(ref), { resume: true }, out);
    expect(result.resumedBytes).toBeGreaterThan(0);
    await expectSameAs(1, out);
  });

  it('gives up on a stalled response after stallTimeoutMs and resumes after the bytes it had', async () => {
    server.control.clearLog();
    server.control.setFaults({ stall: { afterBytes: 100, count: 1, match: { path: 'model-00002-of-00002.safetensors', server: 'cdn' } } });
    const src = await hub('org/base', { stallTimeoutMs: 200 }).open('model-00002-of-00002.safetensors');
    const want = await readFile(join(local.base, 'model-00002-of-00002.safetensors'));
    const got = await src.read(16, 5000);
    expect(Buffer.from(got).equals(want.subarray(16, 5016))).toBe(true);
    const cdn = requests((r) => r.server === 'cdn');
    expect(cdn.map((r) => [r.range, r.fault])).toEqual([
      ['bytes=0-0', undefined],
      ['bytes=16-5015', 'stall'],
      ['bytes=116-5015', undefined],
    ]);
  });

  it('asks the Hub for a fresh CDN address when a signed one expired', async () => {
    const src = await hub('org/base').open('model-00001-of-00002.safetensors');
    const want = await readFile(join(local.base, 'model-00001-of-00002.safetensors'));
    expect(Buffer.from(await src.read(0, 64)).equals(want.subarray(0, 64))).toBe(true);
    server.control.expireCdnUrls();
    server.control.clearLog();
    expect(Buffer.from(await src.read(64, 64)).equals(want.subarray(64, 128))).toBe(true);
    expect(requests(() => true).map((r) => [r.server, r.status])).toEqual([
      ['cdn', 403],
      ['hub', 302],
      ['cdn', 206],
      ['cdn', 206],
    ]);
  });

  it('reports an unreachable Hub after the retries, and stops at once when cancelled', async () => {
    server.control.setFaults({ status: { code: 502, count: 3, match: { path: '/api/models/org/cp' } } });
    const e = await caught(hub('org/cp', { retries: 2 }).list());
    expect(e.code).toBe('hub-unreachable');
    expect(e.message).toBe(`org/cp@main: could not find the commit of the revision after 3 attempts; last error: HTTP 502: injected fault. Check the network connection and the Hub endpoint ${server.url}, then try again`);

    server.control.setFaults({ stall: { afterBytes: 10, count: 1, match: { server: 'cdn', path: 'model-00001' } } });
    const controller = new AbortController();
    const src = await hub('org/cp', { signal: controller.signal }).open('model-00001-of-00002.safetensors');
    const reading = src.read(0, 4000);
    setTimeout(() => controller.abort(), 100);
    await expect(reading).rejects.toBeInstanceOf(CancelledError);
    server.control.setFaults({});
  });
});

describe('revision pinning', () => {
  it('keeps reading the resolved commit after the branch moves', async () => {
    const tree = hub('org/moving');
    const files = await tree.list();
    const before = tree.commit!;
    const after = await server.control.setBranch('org/moving', 'main', other.chat);
    expect(after).not.toBe(before);
    for (const name of files) {
      const src = await tree.open(name);
      expect(Buffer.from(await src.read(0, src.size)).equals(await readFile(join(other.base, name))), name).toBe(true);
    }
    const fresh = hub('org/moving');
    await fresh.list();
    expect(fresh.commit).toBe(after);
    const src = await fresh.open('model.safetensors');
    expect(Buffer.from(await src.read(0, src.size)).equals(await readFile(join(other.chat, 'model.safetensors')))).toBe(true);
    const pinned = hub('org/moving', { revision: before });
    await pinned.list();
    expect(pinned.commit).toBe(before);
  });
});

describe('block cache', () => {
  it('re-merges with another α without a single file request', async () => {
    const cache = new MemoryTensorCache({ blockSize: 64 * 1024 });
    server.control.clearLog();
    const first = await mergeHub(1, (ref) => hub(ref, { cache }));
    await expectSameAs(1, first.out);
    expect(weightRequests().length).toBeGreaterThan(0);
    const stored = await cache.entries();
    expect(stored.map((e) => e.key.repo).sort()).toContain('org/cp');

    server.control.clearLog();
    let received = 0;
    const second = await mergeHub(0.5, (ref) => hub(ref, { cache, onBytes: (n) => (received += n) }), { chunkElements: 3000 });
    await expectSameAs(0.5, second.out);
    expect(received).toBe(0);
    expect(requests((r) => r.path.includes('/resolve/') || r.server === 'cdn')).toEqual([]);
    // Only the small API calls: the commit and the listing, for each repository.
    expect(requests(() => true).every((r) => r.path.startsWith('/api/models/'))).toBe(true);
  });
});
