import { createSHA256 } from 'hash-wasm';
import { treeReader, type TreeReader } from '../src/core/sources/remote-tree.ts';
import { loadCheckpoint } from '../src/core/checkpoint.ts';
import { summarizeCheckpoint } from '../src/core/summary.ts';
import { CancelledError, ChatvecError } from '../src/core/errors.ts';
import { formatBytes } from '../src/core/format.ts';
import { openInputs } from '../src/core/inputs.ts';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import { loadManifest, MANIFEST_FILE } from '../src/core/merge/manifest.ts';
import { buildSideFiles } from '../src/core/output-files.ts';
import { hasErrors, planMerge, type MergeInputs, type MergePlan } from '../src/core/plan.ts';
import { computeChatVectorStats } from '../src/core/stats/compute-chat-vector-stats.ts';
import type { ChatVectorStats } from '../src/core/stats/stats-report.ts';
import { statsTargets } from '../src/core/stats/stats-targets.ts';
import { BlobTree } from '../src/core/sources/blob.ts';
import type { FileTree } from '../src/core/sources/byte-source.ts';
import { DirectoryHandleTree } from '../src/core/sources/directory-handle.ts';
import { storageError, type OpfsOutputFolder } from '../src/core/sources/opfs.ts';
import type { Recipe } from '../src/core/recipe.ts';
import type { MergeProgress } from '../src/core/merge/engine.ts';
import type { BackendChoice, CacheEntryInfo, LibraryEntry, LoadedSource, MergeProgressInfo, PlanReport, PublicSourceSpec, SourceSpec, StatsProgressInfo, StorageInfo } from './contract.ts';
import { HubTree } from '../src/hub/hub-tree.ts';
import { OpfsTensorCache } from './hub-cache.ts';
import { checkModelName, filesOf, IndexedDbHandleStore, Library, manifestProgress, newModelId, type HandleStore, type StoredSourceSpec, type StudioEntry } from './library.ts';

export const MODEL_ROLES = ['base', 'chat', 'cp'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

/** Files of one demo model folder; the rest of a checkpoint's files are never needed for the demo. */
export const DEMO_FILES: { name: string; required: boolean }[] = [
  { name: 'config.json', required: true },
  { name: 'model.safetensors', required: true },
  { name: 'tokenizer.json', required: false },
  { name: 'tokenizer_config.json', required: false },
  { name: 'generation_config.json', required: false },
  { name: 'special_tokens_map.json', required: false },
];

const DEMO_HINT = 'Restore the demo models with `git checkout -- public/demo` (they are part of the repository; `node scripts/ensure-demo.mjs` checks them) and reload';

/** The studio's state in its worker: the three loaded model folders, and the plan over them. */
export class Studio {

  private readonly library: Library;
  /** Hub blocks downloaded once, kept in OPFS across reloads. */
  private readonly hubCache: OpfsTensorCache;
  /** Hub tokens by endpoint, in this worker's memory only: a resume after a reload may reuse one a slot loaded with. */
  private readonly hubTokens = new Map<string, string>();
  /** Output bytes the running merge has still to write: the Hub cache leaves them free. */
  private reservedBytes = 0;

  constructor(
    /** Folder URL that holds base/, chat/ and cp/, ending in `/`. */
    private readonly demoUrl: string,
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
    /** Browser storage: OPFS root, quota, persistence, and where local folder handles are kept. */
    private readonly storageEnv: StudioStorage = browserStorage(),
  ) {
    this.library = new Library(() => this.storageEnv.root());
    this.hubCache = new OpfsTensorCache({
      root: () => this.storageEnv.root(),
      canStore: async (bytes) => {
        const { usage = 0, quota } = await this.storageEnv.estimate();
        return quota === undefined || quota - usage - bytes >= this.reservedBytes + QUOTA_MARGIN_BYTES;
      },
    });
  }

  /** Loaded sources by the reference recipes use for them. */
  private readonly sources = new Map<string, { tree: FileTree; loaded: LoadedSource }>();

  /** Load a model's headers and config from wherever it lives, and return its summary and recipe reference. */
  async loadSource(spec: SourceSpec): Promise<LoadedSource> {
    const { ref, tree, publicSpec, commit } = await this.openSource(spec);
    return this.register(ref, tree, publicSpec, commit);
  }

  /** Read a model's headers and config, and keep it under `ref` for recipes. */
  private async register(ref: string, tree: FileTree, spec: PublicSourceSpec, commit?: string): Promise<LoadedSource> {
    const ck = await loadCheckpoint(tree);
    try {
      const loaded: LoadedSource = { ...summarizeCheckpoint(ck), ref, spec, files: await tree.list(), ...(commit ? { commit } : {}) };
      this.sources.set(ref, { tree, loaded });
      return loaded;
    } finally {
      await ck.close();
    }
  }

  /** The FileTree for a recipe reference that was loaded before. */
  tree(ref: string): FileTree {
    const s = this.sources.get(ref);
    if (!s) throw new ChatvecError('this model is not loaded in the studio', { code: 'source-not-loaded', file: ref, hint: 'Choose it again in its slot (after a reload, local folders must be picked again)' });
    return s.tree;
  }

  /** Plan a recipe over loaded sources. Reads no weights. */
  async planRecipe(recipe: Recipe): Promise<PlanReport> {
    const inputs = await openInputs(recipe, (ref) => this.tree(ref));
    try {
      const plan = planMerge(inputs, recipe);
      const side = buildSideFiles(inputs, recipe, plan, inputs.described);
      return planReport(plan, side.notes);
    } finally {
      await inputs.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Chat-vector diagnostics

  private statsRun: AbortController | null = null;
  /** The last diagnostics and the trees they read: a folder loaded again under the same reference is another model. */
  private lastStats: { key: string; trees: FileTree[]; stats: ChatVectorStats } | null = null;

  /** `chatvec stats` of `recipe.vectors[vector]` over the loaded models; the last result is kept (see `cachedStats`). */
  async stats(recipe: Recipe, vector: number, onProgress?: (p: StatsProgressInfo) => void): Promise<ChatVectorStats> {
    if (this.statsRun) throw new ChatvecError('the diagnostics are already being computed', { code: 'stats-running', hint: 'Wait for them to finish, or cancel them' });
    // Registered before the first await, so a cancel right after the call is not lost.
    const abort = new AbortController();
    this.statsRun = abort;
    try {
      const cached = await this.cachedStats(recipe, vector);
      if (cached) return cached;
      const measured = this.statsInputs(recipe, vector);
      const inputs = await openInputs(recipe, (ref) => this.tree(ref));
      try {
        const stats = await computeChatVectorStats({ inputs, recipe, vector, signal: abort.signal, onProgress: onProgress && ((p) => relay(onProgress, p)) });
        if (measured) this.lastStats = { ...measured, stats };
        return stats;
      } finally {
        await inputs.close();
      }
    } finally {
      this.statsRun = null;
    }
  }

  /** The kept diagnostics if they were measured on the models `recipe` names for `vector`, else null. Reads no weights. */
  async cachedStats(recipe: Recipe, vector: number): Promise<ChatVectorStats | null> {
    const last = this.lastStats;
    const now = last && this.statsInputs(recipe, vector);
    if (!last || !now || now.key !== last.key || now.trees.some((t, i) => t !== last.trees[i])) return null;
    const inputs = await openInputs(recipe, (ref) => this.tree(ref));
    try {
      return relabelStats(last.stats, inputs, recipe);
    } finally {
      await inputs.close();
    }
  }

  /** Stop the running diagnostics at the next chunk. */
  cancelStats(): void {
    this.statsRun?.abort();
  }

  private statsInputs(recipe: Recipe, vector: number): { key: string; trees: FileTree[] } | null {
    const v = recipe.vectors[vector];
    if (!v) return null;
    const refs = [recipe.cp, v.base, v.chat];
    return { key: JSON.stringify([vector, ...refs]), trees: refs.map((ref) => this.tree(ref)) };
  }

  // ---------------------------------------------------------------------------------------------
  // Merging into the OPFS library

  private running: { id: string; abort: AbortController } | null = null;
  private tuning: MergeTuning = {};
  private backendChoice: BackendChoice = 'cpu';

  /** Test and benchmark knobs (the page passes `?chunkElements=` / `?checkpointBytes=` from its URL). */
  /** Where merges run their arithmetic: the CPU (default), WebGPU, or whichever measures faster on the first chunks. */
  setBackend(choice: BackendChoice): void {
    if (choice !== 'auto' && choice !== 'cpu' && choice !== 'gpu') throw new ChatvecError('unknown compute backend', { code: 'bad-backend', tensor: 'backend', expected: 'auto, cpu or gpu', found: String(choice) });
    this.backendChoice = choice;
  }

  tune(tuning: MergeTuning): void {
    for (const [k, v] of Object.entries(tuning)) {
      if (v === undefined) continue;
      if (k === 'ioOnly' ? typeof v !== 'boolean' : typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
        throw new ChatvecError(k === 'ioOnly' ? 'not true or false' : 'not a positive integer', { code: 'bad-tuning', tensor: k, found: String(v) });
      }
    }
    this.tuning = { ...tuning };
  }

  /** Merge `recipe` into a new library folder. Refuses before writing when the plan has errors or storage is short. */
  async merge(recipe: Recipe, name: string, onProgress?: (p: MergeProgressInfo) => void): Promise<StudioLibraryEntry> {
    const nameError = checkModelName(name);
    if (nameError) throw new ChatvecError(nameError, { code: 'bad-name', tensor: 'name' });
    const id = newModelId(name);
    return this.exclusive(id, async (signal) => {
      const report = progressSender(onProgress);
      report.phase('checking');
      const prepared = await this.prepare(recipe);
      await this.checkQuota(prepared.outputBytes);
      const entry: StudioEntry = {
        chatvec_studio_entry: 1,
        id,
        name: name.trim(),
        createdAt: new Date().toISOString(),
        recipe,
        inputs: prepared.inputs,
        files: [],
        totalBytes: 0,
        status: 'interrupted',
        sources: prepared.sources.map(({ ref, spec }) => ({ ref, spec: storedSpec(spec) })),
        sha256: {},
      };
      try {
        const out = await this.library.create(entry);
        for (const { ref, spec } of prepared.sources) if (spec.kind === 'directory') await this.storageEnv.handles?.put(id, ref, spec.handle);
        return await this.runInto(out, entry, false, signal, report);
      } catch (e) {
        // A cancel or a download that gave up keeps the partial files for a resume; any other failure removes them.
        if (e instanceof CancelledError || isNetworkFailure(e)) throw e;
        await this.discard(id);
        throw quotaError(e, `library/${id}`, prepared.outputBytes);
      }
    });
  }

  /** Continue an interrupted merge; its demo, library and Hub inputs are opened again by themselves. */
  async resume(id: string, onProgress?: (p: MergeProgressInfo) => void): Promise<StudioLibraryEntry> {
    return this.exclusive(id, async (signal) => {
      const report = progressSender(onProgress);
      report.phase('checking');
      const { out, entry } = await this.library.open(id);
      if (!(await loadManifest(out))) {
        throw new ChatvecError('there is no interrupted merge to resume', { code: 'nothing-to-resume', file: `${out.label} (${entry.name})`, hint: 'The model is complete; see the library' });
      }
      await this.reopenSources(entry);
      const prepared = await this.prepare(entry.recipe);
      const onDisk = (await filesOf(out)).reduce((a, f) => a + f.size, 0);
      await this.checkQuota(Math.max(0, prepared.outputBytes - onDisk));
      try {
        return await this.runInto(out, entry, true, signal, report);
      } catch (e) {
        // Failing before a byte of the model was written (wrong inputs, refused plan) keeps the merge resumable.
        const wroteData = [...out.opened].some((name) => !name.startsWith(MANIFEST_FILE));
        if (e instanceof CancelledError || isNetworkFailure(e)) throw e;
        if (wroteData) await this.discard(id);
        throw quotaError(e, out.label, prepared.outputBytes - onDisk);
      }
    });
  }

  /** Stop the running merge at the next chunk; its files stay for a resume. */
  cancel(): void {
    this.running?.abort.abort();
  }

  /** Interrupted merges in the library (after a cancel, a reload or a crash), with the inputs not loaded now. */
  async pendingMerges(): Promise<PendingMerge[]> {
    const pending: PendingMerge[] = [];
    for (const { entry, manifest } of await this.library.list()) {
      if (!manifest || entry.id === this.running?.id) continue;
      const needs: PendingMerge['needs'] = [];
      for (const s of entry.sources) {
        if (this.sources.has(s.ref)) continue;
        needs.push({ ref: s.ref, spec: await this.publicSpec(entry.id, s.ref, s.spec) });
      }
      pending.push({ entry: publicEntry(entry), needs, ...manifestProgress(manifest) });
    }
    return pending;
  }

  async listLibrary(): Promise<StudioLibraryEntry[]> {
    return (await this.library.list()).filter((x) => x.entry.id !== this.running?.id).map((x) => publicEntry(x.entry));
  }

  async deleteModel(id: string): Promise<void> {
    if (this.running?.id === id) throw new ChatvecError('this model is being merged right now', { code: 'model-busy', file: `library/${id}`, hint: 'Cancel the merge first' });
    await this.discard(id);
  }

  async storage(): Promise<StorageInfo> {
    const [{ usage = 0, quota = 0 }, persisted] = await Promise.all([this.storageEnv.estimate(), this.storageEnv.persisted()]);
    return { usage, quota, persisted };
  }

  /** Ask the browser to keep the site's data. Only a page can ask; a worker reports what was granted. */
  async persist(): Promise<boolean> {
    return this.storageEnv.persist ? this.storageEnv.persist() : this.storageEnv.persisted();
  }

  /** SHA-256 (hex) of one file of a library model, streamed; remembered in the entry. */
  async sha256(id: string, file: string): Promise<string> {
    const { out, entry } = await this.library.open(id);
    if (!entry.files.some((f) => f.name === file)) throw new ChatvecError('no such file in this model', { code: 'library-file-missing', file: `${out.label}/${file}` });
    if (entry.sha256[file]) return entry.sha256[file];
    const blob = await (await out.dir.getFileHandle(file)).getFile();
    const hash = await createSHA256();
    const reader = blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
    const hex = hash.digest('hex');
    entry.sha256[file] = hex;
    if (this.running?.id !== id) await this.library.write(out, entry);
    return hex;
  }

  /** Hub files with blocks in the OPFS cache; `key` is what `evictCache` takes. */
  async cacheEntries(): Promise<CacheEntryInfo[]> {
    return (await this.hubCache.folders()).map(({ id, entry }) => ({ key: id, repo: entry.key.repo, commit: entry.key.commit, path: entry.key.path, bytes: entry.bytes }));
  }

  async evictCache(key: string): Promise<void> {
    if (!/^[0-9a-f]{40}$/.test(key)) throw new ChatvecError('not a Hub cache entry', { code: 'bad-cache-key', found: JSON.stringify(key).slice(0, 60) });
    await this.hubCache.evictFolder(key);
  }

  /** Run `work` as the one merge of this worker, cancellable through `cancel()`. */
  private async exclusive<T>(id: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.running) throw new ChatvecError('a merge is already running', { code: 'merge-running', file: `library/${this.running.id}`, hint: 'Wait for it to finish, or cancel it' });
    const abort = new AbortController();
    this.running = { id, abort };
    try {
      return await work(abort.signal);
    } finally {
      this.running = null;
      this.reservedBytes = 0;
    }
  }

  private async runInto(out: OpfsOutputFolder, entry: StudioEntry, resume: boolean, signal: AbortSignal, report: ProgressSender): Promise<StudioLibraryEntry> {
    const result = await mergeRecipe({
      recipe: entry.recipe,
      resolve: (ref) => this.resolve(ref),
      out,
      resume,
      signal,
      onProgress: (p) => {
        this.reservedBytes = Math.max(0, p.bytesTotal - p.bytesDone);
        report.progress(p);
      },
      chunkElements: this.tuning.chunkElements,
      checkpointBytes: this.tuning.checkpointBytes ?? BROWSER_CHECKPOINT_BYTES,
      ioOnly: this.tuning.ioOnly,
      backend: this.backendChoice,
    });
    report.phase('finishing');
    const done: StudioEntry = { ...entry, status: 'complete', files: result.files, totalBytes: result.files.reduce((a, f) => a + f.size, 0), sha256: {}, backend: result.backend };
    await this.library.write(out, done);
    await this.storageEnv.handles?.removeAll(entry.id).catch(() => undefined);
    return publicEntry(done);
  }

  private async discard(id: string): Promise<void> {
    await this.library.remove(id);
    this.sources.delete(`library/${id}`);
    await this.storageEnv.handles?.removeAll(id).catch(() => undefined);
  }

  /** The plan, the bytes the output will take, and where each input came from; reads no weights. */
  private async prepare(recipe: Recipe) {
    const inputs = await openInputs(recipe, (ref) => this.resolve(ref));
    try {
      const plan = planMerge(inputs, recipe);
      const side = buildSideFiles(inputs, recipe, plan, inputs.described);
      // Refuse here, before anything is written; mergeRecipe would refuse with the same plan too.
      if (hasErrors(plan)) {
        const errors = plan.issues.filter((i) => i.severity === 'error');
        throw new ChatvecError(`the merge plan has ${errors.length} error(s): ${errors.map((e) => e.message).join('; ')}`, { code: errors[0].code, hint: errors[0].hint ?? 'See the compatibility report' });
      }
      const sideBytes = [...side.files.values()].reduce((a, b) => a + b.length, 0);
      const refs = [...new Set([recipe.cp, ...recipe.vectors.flatMap((v) => [v.base, v.chat])])];
      const sources = refs.map((ref) => ({ ref, spec: this.sources.get(ref)!.loaded.spec, commit: this.sources.get(ref)!.loaded.commit }));
      const inputsDescribed = inputs.described.map((d) => {
        const commit = this.sources.get(d.ref)?.loaded.commit;
        return { role: d.role, ref: d.ref, bytes: d.bytes, tensors: d.tensors, ...(commit ? { revision: commit } : d.revision ? { revision: d.revision } : {}) };
      });
      // Hub inputs are remembered at the commit they resolved to, so a resume reads the very same bytes.
      for (const s of sources) if (s.spec.kind === 'hub' && s.commit) s.spec = { ...s.spec, revision: s.commit };
      return { plan, outputBytes: plan.totalOutputBytes + sideBytes, inputs: inputsDescribed, sources };
    } finally {
      await inputs.close();
    }
  }

  /** Refuse a merge the browser's storage quota cannot hold, saying how much is missing and what to do. */
  private async checkQuota(outputBytes: number): Promise<void> {
    const { usage = 0, quota } = await this.storageEnv.estimate();
    if (quota === undefined) return;
    this.reservedBytes = outputBytes;
    const needed = outputBytes + QUOTA_MARGIN_BYTES;
    const available = Math.max(0, quota - usage);
    if (available < needed) {
      throw new ChatvecError('not enough browser storage for this merge', {
        code: 'quota',
        expected: `${formatBytes(needed)} free (${needed} bytes)`,
        found: `${formatBytes(available)} free (${available} bytes; ${formatBytes(usage)} of ${formatBytes(quota)} used)`,
        hint: 'Delete merged models from the library, evict Hub cache entries, or click "Keep data" so the browser may keep more; freeing disk space raises the quota too',
      });
    }
  }

  /** Read access to the loaded models for another worker (the chat preview's live merge of the recipe). */
  sourceReader(): TreeReader {
    return treeReader((ref) => this.resolve(ref));
  }

  /** A recipe reference's files: a loaded source, or a demo or library model loaded on demand. */
  private async resolve(ref: string): Promise<FileTree> {
    if (!this.sources.has(ref)) {
      const spec = specOf(ref);
      if (spec) await this.loadSource(spec);
    }
    return this.tree(ref);
  }

  /** Load an interrupted merge's inputs again where that needs no person: demo, library, Hub and permitted folders. */
  private async reopenSources(entry: StudioEntry): Promise<void> {
    const missing: string[] = [];
    for (const { ref, spec } of entry.sources) {
      if (this.sources.has(ref)) continue;
      try {
        if (spec.kind === 'demo' || spec.kind === 'library') await this.loadSource(spec);
        else if (spec.kind === 'hub') {
          // Opened at the recorded commit, but named as when the merge began: the resume must be the same merge.
          const { tree, commit } = await this.openSource(spec);
          await this.register(ref, relabelled(tree, ref), spec, commit);
        } else if (spec.kind === 'directory') {
          const handle = await this.storageEnv.handles?.get(entry.id, ref);
          const permission = handle && (await (handle as PermissionHandle).queryPermission?.({ mode: 'read' }));
          if (handle && (permission === 'granted' || permission === undefined)) await this.loadSource({ kind: 'directory', handle });
        }
      } catch (e) {
        if (spec.kind === 'hub') {
          throw new ChatvecError('the Hub model of this interrupted merge cannot be opened', { code: 'resume-hub', file: ref, found: (e as Error).message, hint: 'If the repository is gated or private, enter your access token and load it again in its slot, then resume' });
        }
        throw e;
      }
      if (!this.sources.has(ref)) missing.push(ref);
    }
    if (missing.length) {
      throw new ChatvecError('the interrupted merge needs local folders that are not loaded', { code: 'resume-needs-sources', file: missing.join(', '), hint: 'Choose the same folders again, then resume' });
    }
  }

  private async publicSpec(id: string, ref: string, spec: StoredSourceSpec): Promise<PublicSourceSpec> {
    if (spec.kind !== 'directory') return spec;
    const handle = await this.storageEnv.handles?.get(id, ref).catch(() => null);
    return handle ? { kind: 'directory', handle } : { kind: 'files', name: spec.name };
  }

  private async openSource(spec: SourceSpec): Promise<{ ref: string; tree: FileTree; publicSpec: LoadedSource['spec']; commit?: string }> {
    switch (spec.kind) {
      case 'demo': {
        const tree = await this.fetchModel(spec.role);
        return { ref: tree.label, tree, publicSpec: { kind: 'demo', role: spec.role } };
      }
      case 'files': {
        if (spec.files.length !== spec.paths.length) throw new Error('internal: files and paths differ in length');
        const files = new Map<string, Blob>();
        spec.files.forEach((f, i) => files.set(spec.paths[i], f));
        const ref = `local/${spec.name}`;
        return { ref, tree: new BlobTree(ref, files), publicSpec: { kind: 'files', name: spec.name } };
      }
      case 'directory': {
        const ref = `local/${spec.handle.name}`;
        return { ref, tree: new DirectoryHandleTree(ref, spec.handle), publicSpec: { kind: 'directory', handle: spec.handle } };
      }
      case 'library': {
        const { out, entry } = await this.library.open(spec.id);
        const ref = `library/${spec.id}`;
        if (entry.status !== 'complete' || (await out.size(MANIFEST_FILE)) !== null) {
          throw new ChatvecError('this merge was interrupted and is not a whole model yet', { code: 'library-incomplete', file: `${ref} (${entry.name})`, hint: 'Resume or discard it in the merge panel first' });
        }
        return { ref, tree: new DirectoryHandleTree(ref, out.dir), publicSpec: { kind: 'library', id: spec.id } };
      }
      case 'hub': {
        const hubUrl = spec.hubUrl.trim().replace(/\/+$/, '');
        if (spec.accessToken) this.hubTokens.set(hubUrl, spec.accessToken);
        const tree = new HubTree({ repo: spec.repo, revision: spec.revision, hubUrl, accessToken: spec.accessToken ?? this.hubTokens.get(hubUrl), cache: this.hubCache });
        const commit = await tree.resolveCommit();
        return { ref: tree.label, tree, publicSpec: { kind: 'hub', repo: tree.repo, ...(spec.revision ? { revision: spec.revision } : {}), hubUrl: tree.hubUrl }, commit };
      }
    }
  }

  private async fetchModel(role: ModelRole): Promise<BlobTree> {
    const label = demoRef(role);
    const files = new Map<string, Blob>();
    await Promise.all(
      DEMO_FILES.map(async ({ name, required }) => {
        const url = new URL(`${role}/${name}`, this.demoUrl);
        let res: Response;
        try {
          // A specific Accept keeps dev servers from answering a missing file with index.html.
          res = await this.fetchFn(url, { headers: { accept: 'application/octet-stream, application/json' } });
        } catch (e) {
          throw new ChatvecError('cannot download the demo file', { code: 'demo-fetch', file: `${label}/${name}`, found: (e as Error).message, hint: 'Check that the studio server is still running' });
        }
        // An HTML page in place of a model file is a server's "not found" page (SPA fallback).
        const missing = res.status === 404 || (res.ok && (res.headers.get('content-type') ?? '').startsWith('text/html'));
        if (missing) {
          if (!required) return;
          throw new ChatvecError('the demo file is missing', { code: 'demo-missing', file: `${label}/${name}`, expected: `it at ${url.pathname}`, found: res.status === 404 ? 'HTTP 404' : 'an HTML page', hint: DEMO_HINT });
        }
        if (!res.ok) throw new ChatvecError('cannot download the demo file', { code: 'demo-fetch', file: `${label}/${name}`, expected: 'HTTP 200', found: `HTTP ${res.status}` });
        files.set(name, await res.blob());
      }),
    );
    return new BlobTree(label, files);
  }
}

const demoRef = (role: ModelRole) => `demo/${role}`;

/**
 * The numbers do not depend on the recipe, only each tensor's action and reason do: these are planned again for
 * `recipe` as computeChatVectorStats plans them (copied token rows left out).
 */
function relabelStats(stats: ChatVectorStats, inputs: MergeInputs, recipe: Recipe): ChatVectorStats {
  const targets = statsTargets(inputs, planMerge(inputs, { ...recipe, copyTokenRows: [] }), stats.vector);
  const planned = new Map(targets.compared.map((t) => [t.name, t]));
  return {
    ...stats,
    tensors: stats.tensors.map((t) => {
      const p = planned.get(t.name);
      return p ? { ...t, action: p.action, reason: p.reason } : t;
    }),
  };
}

/** Progress for the page; a page that went away is not an error. */
function relay(onProgress: (p: StatsProgressInfo) => void, p: StatsProgressInfo): void {
  try {
    void Promise.resolve(onProgress({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tensor: p.tensor, file: p.file, bytesPerSecond: p.bytesPerSecond, etaSeconds: p.etaSeconds })).catch(() => undefined);
  } catch {
    /* the page's callback is gone */
  }
}


/** A plan as plain data for the page. */
export function planReport(plan: MergePlan, notes: string[]): PlanReport {
  return {
    ok: !hasErrors(plan),
    counts: { ...plan.counts },
    totalOutputBytes: plan.totalOutputBytes,
    numLayers: plan.numLayers,
    issues: plan.issues.map((i) => ({ severity: i.severity, code: i.code, message: i.message, tensors: [...i.tensors], ...(i.hint ? { hint: i.hint } : {}) })),
    notes: [...notes],
    tensors: plan.entries.map((e) => ({ name: e.name, action: e.action, reason: e.reason, shape: [...e.shape], dtype: e.outDtype, alphas: e.terms.map((t) => t.alpha) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Merge plumbing

/** Where the studio keeps merged models, and what it may ask of the browser's storage. */
export interface StudioStorage {
  /** The OPFS root (`navigator.storage.getDirectory()`). */
  root(): Promise<FileSystemDirectoryHandle>;
  estimate(): Promise<{ usage?: number; quota?: number }>;
  persisted(): Promise<boolean>;
  /** Only pages have `navigator.storage.persist()`; in a worker this is absent. */
  persist?(): Promise<boolean>;
  /** Keeps local folder handles of interrupted merges; null where IndexedDB is missing. */
  handles: HandleStore | null;
}

function browserStorage(): StudioStorage {
  const storage = () => navigator.storage as StorageManager & { persist?: () => Promise<boolean> };
  return {
    root: () => storage().getDirectory(),
    estimate: () => storage().estimate(),
    persisted: () => storage().persisted(),
    ...(typeof navigator !== 'undefined' && typeof navigator.storage?.persist === 'function' ? { persist: () => storage().persist!() } : {}),
    handles: typeof indexedDB === 'undefined' ? null : new IndexedDbHandleStore(),
  };
}

/** Chunk size and resume-point spacing, as the CLI's CHATVEC_CHUNK_ELEMENTS / CHATVEC_CHECKPOINT_BYTES. */
export interface MergeTuning {
  chunkElements?: number;
  checkpointBytes?: number;
  /** Benchmark baseline, as the CLI's CHATVEC_IO_ONLY=1: every read and write of the merge, the arithmetic replaced by a copy of cp's bytes. The output is NOT a merge. */
  ioOnly?: boolean;
}

/** A reload loses at most this much work; saving a resume point in OPFS is cheap. */
const BROWSER_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Room for the resume manifest, the entry and file system overhead beside the model's bytes. */
const QUOTA_MARGIN_BYTES = 4 * 1024 * 1024;

/** A library entry as the page sees it, with the SHA-256 sums computed so far. */
export interface StudioLibraryEntry extends LibraryEntry {
  sha256: Record<string, string>;
}

export interface PendingMerge {
  entry: StudioLibraryEntry;
  /** Inputs not loaded in the worker now: demo, library and Hub ones reload by themselves, local folders must be chosen again. */
  needs: { ref: string; spec: PublicSourceSpec }[];
  /** Data bytes written and synced before the interruption. */
  bytesDone: number;
  bytesTotal: number;
}

function publicEntry(e: StudioEntry): StudioLibraryEntry {
  return { id: e.id, name: e.name, createdAt: e.createdAt, recipe: e.recipe, inputs: e.inputs, files: e.files, totalBytes: e.totalBytes, status: e.status, sha256: { ...e.sha256 }, ...(e.backend ? { backend: e.backend } : {}) };
}

function storedSpec(spec: PublicSourceSpec): StoredSourceSpec {
  return spec.kind === 'directory' ? { kind: 'directory', name: spec.handle.name } : spec;
}

/** The source a reference names when the studio can load it by itself. */
function specOf(ref: string): SourceSpec | null {
  const demo = /^demo\/(base|chat|cp)$/.exec(ref);
  if (demo) return { kind: 'demo', role: demo[1] as ModelRole };
  const lib = /^library\/([^/]+)$/.exec(ref);
  return lib ? { kind: 'library', id: lib[1] } : null;
}

/**
 * A write refused for lack of quota, with the size of the merge: `estimate()` may promise more than the browser
 * then grants (Chromium's reported quota ignores some limits), so the merge can run out after the check.
 */
function quotaError(e: unknown, folder: string, outputBytes: number): unknown {
  return storageError(e, folder, { expected: `room for ${formatBytes(outputBytes)} (this merge)`, found: 'the browser refusing to store more' });
}

/** The Hub stopped answering after every retry: the merge itself is sound, so its written part is kept for a resume (as the error's hint says). */
function isNetworkFailure(e: unknown): boolean {
  return e instanceof ChatvecError && (e.code === 'hub-range-failed' || e.code === 'hub-unreachable');
}

/** The same files under another name: a Hub model opened at its commit, known to a recipe by its branch. */
function relabelled(tree: FileTree, label: string): FileTree {
  return {
    label,
    list: () => tree.list(),
    async open(path) {
      const source = await tree.open(path);
      return { name: `${label}/${path}`, size: source.size, read: (offset, length, into) => source.read(offset, length, into), close: async () => source.close?.() };
    },
  };
}

/** Chromium's permission query on handles (not in TypeScript's DOM lib). */
interface PermissionHandle extends FileSystemDirectoryHandle {
  queryPermission?(d: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
}

interface ProgressSender {
  phase(phase: MergeProgressInfo['phase']): void;
  progress(p: MergeProgress): void;
}

/** Progress for the page; the engine already spaces reports 100 ms apart. A page that went away is not an error. */
function progressSender(onProgress?: (p: MergeProgressInfo) => void): ProgressSender {
  let last: MergeProgressInfo = { phase: 'checking', bytesDone: 0, bytesTotal: 0, tensor: '', file: '', bytesPerSecond: 0, etaSeconds: null };
  const send = (p: MergeProgressInfo) => {
    last = p;
    try {
      void Promise.resolve(onProgress?.(p)).catch(() => undefined);
    } catch {
      /* the page's callback is gone */
    }
  };
  return {
    phase: (phase) => send({ ...last, phase }),
    progress: (p) => send({ phase: p.bytesDone >= p.bytesTotal ? 'finishing' : 'merging', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tensor: p.tensor, file: p.file, bytesPerSecond: p.bytesPerSecond, etaSeconds: p.etaSeconds }),
  };
}
