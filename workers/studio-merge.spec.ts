import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../e2e/hub-server.ts';
import { DEMO_OPTIONS, writeTriplet } from '../scripts/fixtures.ts';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import { defaultRecipe, type Recipe } from '../src/core/recipe.ts';
import type { FileTree } from '../src/core/sources/byte-source.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { NodeOutputFolder } from '../src/core/sources/node-output.ts';
import type { MergeProgressInfo } from './contract.ts';
import { FakeStorage, type FakeDirectory } from './fake-opfs.ts';
import { ENTRY_FILE, type HandleStore } from './library.ts';
import { Studio, type StudioStorage } from './studio-api.ts';

const ORIGIN = 'http://studio.test/';
let dir: string;
/** The CLI's merge of the same recipe (inputs labelled as the studio labels them), file by file. */
let expected: Map<string, Buffer>;

const recipe = (alpha = 0.5): Recipe => defaultRecipe('demo/cp', 'demo/base', 'demo/chat', alpha);

/** A folder on disk that calls itself `label`, as the demo models in the studio do. */
const labelled = (label: string, root: string): FileTree => {
  const tree = new NodeFileTree(root);
  return { label, list: () => tree.list(), open: (p) => tree.open(p) };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chatvec-studio-merge-'));
  await writeTriplet(join(dir, 'demo'), DEMO_OPTIONS);
  const out = new NodeOutputFolder(join(dir, 'cli-out'));
  const result = await mergeRecipe({ recipe: recipe(), resolve: (ref) => labelled(ref, join(dir, ref)), out });
  expected = new Map();
  for (const f of result.files) expected.set(f.name, await readFile(join(dir, 'cli-out', f.name)));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function demoFetch(): typeof fetch {
  return (async (input: string | URL | Request) => {
    const rel = new URL(String(input)).pathname.replace(/^\/demo\//, '');
    try {
      return new Response(await readFile(join(dir, 'demo', rel)), { status: 200, headers: { 'content-type': 'application/octet-stream' } });
    } catch {
      return new Response('not found', { status: 404 });
    }
  }) as typeof fetch;
}

class MemoryHandles implements HandleStore {
  readonly map = new Map<string, FileSystemDirectoryHandle>();
  async put(id: string, ref: string, h: FileSystemDirectoryHandle) {
    this.map.set(`${id}\n${ref}`, h);
  }
  async get(id: string, ref: string) {
    return this.map.get(`${id}\n${ref}`) ?? null;
  }
  async removeAll(id: string) {
    for (const k of [...this.map.keys()]) if (k.startsWith(`${id}\n`)) this.map.delete(k);
  }
}

function studioOn(fake: FakeStorage): Studio {
  const env: StudioStorage = {
    root: async () => fake.root as unknown as FileSystemDirectoryHandle,
    estimate: () => fake.estimate(),
    persisted: async () => fake.persistedFlag,
    handles: new MemoryHandles(),
  };
  return new Studio(`${ORIGIN}demo/`, demoFetch(), env);
}

async function libraryFolder(fake: FakeStorage, id: string): Promise<FakeDirectory> {
  return (await fake.root.getDirectoryHandle('library')).getDirectoryHandle(id);
}

async function filesOf(fake: FakeStorage, id: string): Promise<Map<string, Buffer>> {
  const folder = await libraryFolder(fake, id);
  const files = new Map<string, Buffer>();
  for (const [name, e] of folder.children) if (e.kind === 'file' && name !== ENTRY_FILE) files.set(name, Buffer.from((e as { data: Uint8Array }).data));
  return files;
}

/** Cancel the merge after `n` chunks of model data were written. */
function cancelAfter(fake: FakeStorage, studio: Studio, n: number): void {
  let writes = 0;
  fake.onWrite = (file) => {
    if (file === 'model.safetensors.partial' && ++writes === n) studio.cancel();
  };
}

describe('Studio merges into OPFS', () => {
  it('writes the same files as the CLI, and a complete library entry', async () => {
    const fake = new FakeStorage();
    const studio = studioOn(fake);
    const progress: MergeProgressInfo[] = [];
    const entry = await studio.merge(recipe(), 'Demo merge α 0.5', (p) => progress.push(p));
    expect(entry.id).toMatch(/^demo-merge-0.5-\d{8}-\d{6}-[a-z0-9]{1,4}$/);
    expect(entry.status).toBe('complete');
    expect(entry.name).toBe('Demo merge α 0.5');
    expect(entry.files.map((f) => f.name)).toEqual([...expected.keys()].sort());
    expect(entry.files.find((f) => f.name === 'model.safetensors')?.size).toBe(expected.get('model.safetensors')!.length);
    expect(entry.totalBytes).toBe([...expected.values()].reduce((a, b) => a + b.length, 0));
    expect(entry.inputs.map((i) => [i.role, i.ref, i.tensors])).toEqual([['cp', 'demo/cp', 39], ['base', 'demo/base', 39], ['chat', 'demo/chat', 39]]);
    const written = await filesOf(fake, entry.id);
    expect([...written.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, bytes] of expected) expect(written.get(name)!.equals(bytes), name).toBe(true);
    expect(progress[0].phase).toBe('checking');
    expect(progress.at(-1)).toMatchObject({ phase: 'finishing', bytesDone: 473_216, bytesTotal: 473_216 });
    expect(await studio.pendingMerges()).toEqual([]);
    const listed = await studio.listLibrary();
    expect(listed.map((e) => [e.id, e.status])).toEqual([[entry.id, 'complete']]);
    const stored = JSON.parse(Buffer.from((await (await libraryFolder(fake, entry.id)).getFileHandle(ENTRY_FILE)).data).toString());
    expect(stored.sources).toEqual([
      { ref: 'demo/cp', spec: { kind: 'demo', role: 'cp' } },
      { ref: 'demo/base', spec: { kind: 'demo', role: 'base' } },
      { ref: 'demo/chat', spec: { kind: 'demo', role: 'chat' } },
    ]);
  });

  it('hashes a library file streamed, remembers the sum, and loads the model as a source', async () => {
    const fake = new FakeStorage();
    const studio = studioOn(fake);
    const entry = await studio.merge(recipe(), 'hashed', () => undefined);
    const sum = await studio.sha256(entry.id, 'model.safetensors');
    expect(sum).toBe(createHash('sha256').update(expected.get('model.safetensors')!).digest('hex'));
    expect((await studio.listLibrary())[0].sha256).toEqual({ 'model.safetensors': sum });
    await expect(studio.sha256(entry.id, ENTRY_FILE)).rejects.toThrow(`library/${entry.id}/${ENTRY_FILE}: no such file in this model`);
    const loaded = await studio.loadSource({ kind: 'library', id: entry.id });
    expect([loaded.ref, loaded.parameters, loaded.files.includes(ENTRY_FILE)]).toEqual([`library/${entry.id}`, 236_608, false]);
  });

  it('refuses before writing when the quota is too small, naming bytes needed and available', async () => {
    const fake = new FakeStorage();
    fake.quota = 300_000;
    const studio = studioOn(fake);
    const err = await studio.merge(recipe(), 'too big', () => undefined).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /^not enough browser storage for this merge; expected 4\.7 MB free \(4\d{6} bytes\), found 300\.0 kB free \(300000 bytes; 0 B of 300\.0 kB used\)\. Delete merged models from the library, evict Hub cache entries, or click "Keep data" so the browser may keep more; freeing disk space raises the quota too$/,
    );
    expect(fake.root.paths()).toEqual([]);
  });

  it('removes the partial files when storage runs out mid-write', async () => {
    const fake = new FakeStorage();
    fake.quota = 200_000;
    fake.reportedQuota = 100_000_000;
    const studio = studioOn(fake);
    studio.tune({ chunkElements: 4096 });
    await expect(studio.merge(recipe(), 'runs out', () => undefined)).rejects.toThrow(
      /^library\/runs-out-[\w-]+\/model\.safetensors\.partial: the browser storage quota ran out while writing; expected room for 4\d\d\.\d kB \(this merge\), found the browser refusing to store more\. Delete merged models from the library or evict Hub cache entries, let the site keep its data \(persist\), then merge again$/,
    );
    expect(fake.root.paths()).toEqual([]);
    expect(await studio.pendingMerges()).toEqual([]);
  });

  it('keeps a cancelled merge, and resumes it to the same bytes', async () => {
    const fake = new FakeStorage();
    const studio = studioOn(fake);
    studio.tune({ chunkElements: 1024, checkpointBytes: 1 });
    cancelAfter(fake, studio, 50);
    const err = await studio.merge(recipe(), 'cancelled', () => undefined).catch((e: Error) => e);
    expect((err as Error).name).toBe('CancelledError');
    const [pending] = await studio.pendingMerges();
    expect(pending.entry.status).toBe('interrupted');
    expect(pending.needs).toEqual([]);
    expect(pending.bytesDone).toBeGreaterThan(0);
    expect(pending.bytesDone).toBeLessThan(pending.bytesTotal);
    expect(pending.bytesTotal).toBe(473_216);
    fake.onWrite = null;
    expect(pending.entry.files.map((f) => f.name)).toEqual(['model.safetensors.partial']);
    await expect(studio.loadSource({ kind: 'library', id: pending.entry.id })).rejects.toThrow('this merge was interrupted and is not a whole model yet');

    const resumed = await studio.resume(pending.entry.id, () => undefined);
    expect(resumed.status).toBe('complete');
    const written = await filesOf(fake, resumed.id);
    for (const [name, bytes] of expected) expect(written.get(name)!.equals(bytes), name).toBe(true);
    expect([...written.keys()].sort()).toEqual([...expected.keys()].sort());
    expect(await studio.pendingMerges()).toEqual([]);
  });

  it('after a reload, finds the interrupted merge, reloads the demo inputs itself and resumes', async () => {
    const fake = new FakeStorage();
    const first = studioOn(fake);
    first.tune({ chunkElements: 1024, checkpointBytes: 1 });
    cancelAfter(fake, first, 50);
    await first.merge(recipe(), 'reloaded', () => undefined).catch(() => undefined);
    fake.onWrite = null;

    const second = studioOn(fake);
    const [pending] = await second.pendingMerges();
    expect(pending.needs).toEqual([
      { ref: 'demo/cp', spec: { kind: 'demo', role: 'cp' } },
      { ref: 'demo/base', spec: { kind: 'demo', role: 'base' } },
      { ref: 'demo/chat', spec: { kind: 'demo', role: 'chat' } },
    ]);
    await second.resume(pending.entry.id, () => undefined);
    const written = await filesOf(fake, pending.entry.id);
    for (const [name, bytes] of expected) expect(written.get(name)!.equals(bytes), name).toBe(true);
  });

  it('asks for local folders that must be chosen again, and keeps the partial files meanwhile', async () => {
    const fake = new FakeStorage();
    const first = studioOn(fake);
    const blobs = async (role: string) => {
      const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];
      return { files: await Promise.all(names.map(async (n) => new File([await readFile(join(dir, 'demo', role, n))], n))), paths: names };
    };
    await first.loadSource({ kind: 'files', name: 'my-cp', ...(await blobs('cp')) });
    first.tune({ chunkElements: 1024, checkpointBytes: 1 });
    cancelAfter(fake, first, 50);
    await first.merge(defaultRecipe('local/my-cp', 'demo/base', 'demo/chat', 0.5), 'local cp', () => undefined).catch(() => undefined);
    fake.onWrite = null;

    const second = studioOn(fake);
    const [pending] = await second.pendingMerges();
    expect(pending.needs.map((x) => [x.ref, x.spec])).toEqual([
      ['local/my-cp', { kind: 'files', name: 'my-cp' }],
      ['demo/base', { kind: 'demo', role: 'base' }],
      ['demo/chat', { kind: 'demo', role: 'chat' }],
    ]);
    await expect(second.resume(pending.entry.id, () => undefined)).rejects.toThrow('local/my-cp: the interrupted merge needs local folders that are not loaded. Choose the same folders again, then resume');
    expect((await filesOf(fake, pending.entry.id)).has('model.safetensors.partial')).toBe(true);

    await second.loadSource({ kind: 'files', name: 'my-cp', ...(await blobs('cp')) });
    const done = await second.resume(pending.entry.id, () => undefined);
    expect(done.status).toBe('complete');
    expect((await filesOf(fake, done.id)).get('model.safetensors')!.equals(expected.get('model.safetensors')!)).toBe(true);
  });

  it('runs one merge at a time, refuses a bad name, and deletes models', async () => {
    const fake = new FakeStorage();
    const studio = studioOn(fake);
    await expect(studio.merge(recipe(), '  ', () => undefined)).rejects.toThrow('tensor "name": Enter a name for the merged model.');
    const running = studio.merge(recipe(), 'first', () => undefined);
    await expect(studio.merge(recipe(), 'second', () => undefined)).rejects.toThrow(/a merge is already running\. Wait for it to finish, or cancel it$/);
    const entry = await running;
    await studio.deleteModel(entry.id);
    expect(fake.root.paths()).toEqual([]);
    expect(await studio.listLibrary()).toEqual([]);
    expect(await studio.storage()).toEqual({ usage: 0, quota: 10 * 1024 ** 3, persisted: false });
  });
});

describe('Studio merges Hub models', () => {
  let server: HubServer;
  const hubRecipe = () => defaultRecipe('org/cp@main', 'org/base@main', 'org/chat@main', 0.5);
  const loadHub = async (studio: Studio) => {
    for (const repo of ['org/cp', 'org/base', 'org/chat']) await studio.loadSource({ kind: 'hub', repo, hubUrl: server.url });
  };
  /** Range requests for weights that reached the server (the cache answers the others). */
  const weightReads = () => server.control.log.filter((r) => r.path.endsWith('.safetensors') && r.range !== null && r.method === 'GET').length;

  beforeAll(async () => {
    server = await startHubServer({ repos: { 'org/base': join(dir, 'demo', 'base'), 'org/chat': join(dir, 'demo', 'chat'), 'org/cp': join(dir, 'demo', 'cp') } });
  });
  afterAll(() => server?.close());

  it('merges from the Hub, caches the downloaded blocks in OPFS, and reads them from there after a reload', async () => {
    const fake = new FakeStorage();
    const first = studioOn(fake);
    await loadHub(first);
    const entry = await first.merge(hubRecipe(), 'from the hub', () => undefined);
    expect(entry.inputs.map((i) => [i.role, i.ref, i.revision])).toEqual([
      ['cp', 'org/cp@main', server.control.commitOf('org/cp')],
      ['base', 'org/base@main', server.control.commitOf('org/base')],
      ['chat', 'org/chat@main', server.control.commitOf('org/chat')],
    ]);
    const written = await filesOf(fake, entry.id);
    for (const name of ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json']) expect(written.get(name)!.equals(expected.get(name)!), name).toBe(true);

    const cached = await first.cacheEntries();
    const cpWeights = cached.find((c) => c.repo === 'org/cp' && c.path === 'model.safetensors')!;
    expect(cpWeights).toEqual({ key: expect.stringMatching(/^[0-9a-f]{40}$/), repo: 'org/cp', commit: server.control.commitOf('org/cp'), path: 'model.safetensors', bytes: (await readFile(join(dir, 'demo', 'cp', 'model.safetensors'))).length });

    server.control.clearLog();
    const second = studioOn(fake);
    await loadHub(second);
    const again = await second.merge(hubRecipe(), 'from the cache', () => undefined);
    expect(weightReads()).toBe(0);
    expect((await filesOf(fake, again.id)).get('model.safetensors')!.equals(expected.get('model.safetensors')!)).toBe(true);

    await second.evictCache(cpWeights.key);
    expect((await second.cacheEntries()).map((c) => `${c.repo}/${c.path}`)).not.toContain('org/cp/model.safetensors');
    await expect(second.evictCache('../library')).rejects.toThrow('not a Hub cache entry');
  });

  it('resumes a Hub merge after a reload at the commit it started from', async () => {
    const fake = new FakeStorage();
    const first = studioOn(fake);
    await loadHub(first);
    first.tune({ chunkElements: 1024, checkpointBytes: 1 });
    cancelAfter(fake, first, 50);
    await first.merge(hubRecipe(), 'hub resumed', () => undefined).catch(() => undefined);
    fake.onWrite = null;

    const second = studioOn(fake);
    const [pending] = await second.pendingMerges();
    expect(pending.needs).toEqual(['cp', 'base', 'chat'].map((m) => ({ ref: `org/${m}@main`, spec: { kind: 'hub', repo: `org/${m}`, revision: server.control.commitOf(`org/${m}`), hubUrl: server.url } })));
    const done = await second.resume(pending.entry.id, () => undefined);
    const written = await filesOf(fake, done.id);
    expect(written.get('model.safetensors')!.equals(expected.get('model.safetensors')!)).toBe(true);
    // Named by the branch the merge began with, as if it had never been interrupted.
    expect(written.get('README.md')!.toString()).toContain('| cp | `org/cp@main` |');
    expect(done.inputs[0]).toMatchObject({ ref: 'org/cp@main', revision: server.control.commitOf('org/cp') });
  });
});
