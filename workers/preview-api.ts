/**
 * The chat preview in its own worker: opens a model (a library merge, a demo model, or the demo triplet
 * merged live at an α), renders prompts through the model's chat template and streams generated tokens.
 * Live α re-runs the real merge engine in memory (f32 output) and swaps the weights into the same graph.
 */
import { ChatvecError } from '../src/core/errors.ts';
import { MANIFEST_FILE } from '../src/core/merge/manifest.ts';
import { BlobTree } from '../src/core/sources/blob.ts';
import type { FileTree } from '../src/core/sources/byte-source.ts';
import { DirectoryHandleTree } from '../src/core/sources/directory-handle.ts';
import { renderChatPrompt, type ChatMessage } from '../src/model/chat-template.ts';
import { ChatSession, type GenerationStats } from '../src/model/generate.ts';
import { checkpointWeights } from '../src/model/graph/external-data.ts';
import { LiveModel, planTriplet, type AlphaChange, type LiveRecipeSettings, type LiveTriplet } from '../src/model/live-model.ts';
import { RemoteTree, type TreeReader } from '../src/core/sources/remote-tree.ts';
import { checkSweepSettings, runSweep } from '../src/sweep/run-sweep.ts';
import type { PromptSet, SweepProgress, SweepResponse, SweepResult, SweepSettings } from '../src/sweep/types.ts';
import { SweepStore } from './sweep-store.ts';
import { chatPromptIds, choosePreviewBackend, openPreviewFiles, openPreviewFolder, type GpuLike, type PreviewFolder, type PreviewModelOptions } from '../src/model/session.ts';
import { Library } from './library.ts';
import { DEMO_FILES, type ModelRole } from './studio-api.ts';

export type { AlphaChange, ChatMessage };

/** Recipe references of a chat-vector triplet. */
export interface LiveModels {
  cp: string;
  base: string;
  chat: string;
}

/**
 * What to chat with. `live`: a triplet merged in memory at `alpha` (θ = cp + α·τ, f32): the recipe's models
 * (read from the studio worker, see `connectModels`), or the demo triplet when `models` is left out.
 */
export type PreviewSource = { kind: 'demo'; role: ModelRole } | { kind: 'library'; id: string } | ({ kind: 'live'; alpha: number } & LiveMerge);

/** A live merge's models (the demo's when left out) and the recipe settings it follows. */
export interface LiveMerge {
  models?: LiveModels;
  settings?: LiveRecipeSettings;
}

const DEMO_MODELS: LiveModels = { cp: 'demo/cp', base: 'demo/base', chat: 'demo/chat' };

/** What the sweep view asks for: the prompt set and settings, on the recipe's models (default the demo's). */
export interface SweepRequest {
  live: LiveMerge;
  promptSet: PromptSet;
  settings: SweepSettings;
}

export type PreviewBackend = 'wasm' | 'webgpu';

export interface PreviewModelInfo {
  label: string;
  backend: PreviewBackend;
  weightDtype: 'f32' | 'f16';
  parameters: number;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Reading weights + creating the ORT session, ms. */
  loadMs: number;
  /** For a live model: its α. */
  alpha?: number;
}

export interface PreviewSettings {
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
  /** 1 = off. The Chat Vector paper used 1.15 for its Mistral models. */
  repetitionPenalty: number;
  maxNewTokens: number;
}

export const DEFAULT_SETTINGS: PreviewSettings = { greedy: true, temperature: 0.7, topK: 0, topP: 0.9, repetitionPenalty: 1, maxNewTokens: 64 };

export interface GenerationResult {
  promptIds: number[];
  ids: number[];
  text: string;
  stats: GenerationStats;
}

export interface CompareColumn {
  label: string;
  alpha: number | null;
  ids: number[];
  text: string;
  done: boolean;
}

/** Files of one open model: the model, its tokenizer, the template inputs. */
interface OpenModel extends PreviewFolder {
  info: PreviewModelInfo;
  chat: ChatSession;
  /** The live merge, when that is what is open, and its models. */
  live?: LiveModel;
  liveModels?: LiveModels;
}

export interface PreviewEnv {
  /** Folder URL holding base/, chat/, cp/, ending in `/`. */
  demoUrl: string;
  fetch?: typeof fetch;
  /** OPFS root (library models). */
  root?: () => Promise<FileSystemDirectoryHandle>;
  gpu?: GpuLike;
  /** Passed to the preview model (e.g. `numThreads`, or an `ort` module in Node tests). */
  modelOptions?: Pick<PreviewModelOptions, 'numThreads' | 'ort'>;
}

export class Preview {
  private current: OpenModel | null = null;
  private demoTrees = new Map<ModelRole, Promise<BlobTree>>();
  private controller: AbortController | null = null;
  private readonly library: Library | null;
  private models: TreeReader | null = null;
  private sweepController: AbortController | null = null;
  readonly sweeps: SweepStore | null;

  constructor(private readonly env: PreviewEnv) {
    this.library = env.root ? new Library(env.root) : null;
    this.sweeps = env.root ? new SweepStore(env.root) : null;
  }

  /** Where the recipe's models are read from for a live merge (the studio worker, which loaded them). */
  connectModels(reader: TreeReader): void {
    this.models = reader;
  }

  /** What this machine can run: WebGPU (and whether it has f16 shaders). */
  async backends(): Promise<{ webgpu: boolean; shaderF16: boolean }> {
    const adapter = this.env.gpu ? await this.env.gpu.requestAdapter().catch(() => null) : null;
    return { webgpu: !!adapter, shaderF16: !!adapter?.features.has('shader-f16') };
  }

  async open(source: PreviewSource, backend: PreviewBackend = 'wasm'): Promise<PreviewModelInfo> {
    this.stop();
    await this.close();
    const t0 = performance.now();
    const opts = await this.backendOptions(backend);
    let folder: PreviewFolder;
    let label: string;
    let live: LiveModel | undefined;
    if (source.kind === 'live') {
      live = await LiveModel.open(await this.triplet(source.models), { ...opts, alpha: source.alpha, ...(source.settings ? { settings: source.settings } : {}) });
      folder = live.folder;
      label = liveLabel(source.models, source.alpha);
    } else if (source.kind === 'demo' && source.role === 'cp') {
      label = 'demo/cp (chat template from demo/chat)';
      folder = await this.openCpWithChatTemplate(DEMO_MODELS, opts);
    } else {
      const tree = await this.tree(source);
      label = tree.label;
      folder = await openPreviewFolder(tree, opts);
    }
    const { spec } = folder.model;
    const info: PreviewModelInfo = {
      label,
      backend,
      weightDtype: opts.weightDtype ?? 'f32',
      parameters: folder.model.parameterCount,
      layers: spec.numLayers,
      hiddenSize: spec.hiddenSize,
      vocabSize: spec.vocabSize,
      loadMs: performance.now() - t0,
      ...(source.kind === 'live' ? { alpha: source.alpha } : {}),
    };
    this.current = { ...folder, info, chat: new ChatSession(folder.model, folder.tokenizer), ...(live ? { live, liveModels: source.kind === 'live' ? source.models ?? DEMO_MODELS : DEMO_MODELS } : {}) };
    return info;
  }

  /** Live α: merge the demo triplet again at `alpha` and swap the weights in; the KV cache starts over. */
  async setAlpha(alpha: number): Promise<AlphaChange & { label: string }> {
    const cur = this.need();
    if (!cur.live) throw new ChatvecError('α can change only for the live merge', { code: 'preview-not-live', hint: 'Open "Recipe merge (live α)" first' });
    this.stop();
    const change = await cur.live.setAlpha(alpha);
    cur.chat.reset();
    cur.info = { ...cur.info, alpha, label: liveLabel(cur.liveModels, alpha) };
    return { ...change, label: cur.info.label };
  }

  /** The prompt exactly as the model sees it, special tokens included. */
  renderPrompt(messages: ChatMessage[], system: string): string {
    const cur = this.need();
    // A conversation that ends with the assistant's answer is shown as it stands, without a new assistant header.
    return renderChatPrompt(cur.tokenizerConfig, withSystem(messages, system), { addGenerationPrompt: messages.at(-1)?.role !== 'assistant', ...(cur.chatTemplate ? { chatTemplate: cur.chatTemplate } : {}), folder: cur.info.label });
  }

  /** The assistant's next message; `onToken` gets each token as it comes. Earlier turns' keys/values are reused. */
  async generate(messages: ChatMessage[], system: string, settings: PreviewSettings, onToken: (t: { id: number; text: string }) => void): Promise<GenerationResult> {
    const cur = this.need();
    return this.run(cur.chat, cur, messages, system, settings, onToken);
  }

  /** Ask a running generation to end after its current step. */
  stop(): void {
    this.controller?.abort();
  }

  /**
   * The same conversation, greedy, on the live merge at each α and on the demo cp, one after another.
   * The model open before is re-merged at its own α afterwards.
   */
  async compare(messages: ChatMessage[], system: string, alphas: number[], maxNewTokens: number, onUpdate: (columns: CompareColumn[]) => void): Promise<CompareColumn[]> {
    const cur = this.need();
    if (!cur.live) throw new ChatvecError('the comparison runs on the live merge', { code: 'preview-not-live', hint: 'Open "Recipe merge (live α)" first' });
    if (alphas.length < 1 || alphas.length > 3) throw new RangeError('compare takes one to three α values');
    const restore = cur.live.alpha;
    const columns: CompareColumn[] = [...alphas.map((a) => ({ label: `α = ${a}`, alpha: a as number | null, ids: [], text: '', done: false })), { label: 'CP model', alpha: null, ids: [], text: '', done: false }];
    const settings: PreviewSettings = { ...DEFAULT_SETTINGS, greedy: true, repetitionPenalty: 1, maxNewTokens };
    const runColumn = async (col: CompareColumn, session: ChatSession, files: Pick<PreviewFolder, 'tokenizerConfig' | 'chatTemplate' | 'tokenizer'>, label: string) => {
      const r = await this.run(session, { ...files, info: { ...cur.info, label } }, messages, system, settings, (t) => {
        col.ids.push(t.id);
        col.text += t.text;
        onUpdate(columns);
      });
      col.ids = r.ids;
      col.text = r.text;
      col.done = true;
      onUpdate(columns);
    };
    try {
      for (const col of columns.slice(0, alphas.length)) {
        await this.setAlpha(col.alpha!);
        await runColumn(col, new ChatSession(cur.model, cur.tokenizer), cur, col.label);
      }
      const cp = await this.openCpWithChatTemplate(cur.liveModels ?? DEMO_MODELS, await this.backendOptions(cur.info.backend));
      try {
        await runColumn(columns[alphas.length], new ChatSession(cp.model, cp.tokenizer), cp, (cur.liveModels ?? DEMO_MODELS).cp);
      } finally {
        await cp.model.release();
      }
    } finally {
      await this.setAlpha(restore);
    }
    return columns;
  }

  /**
   * An α sweep (src/sweep/run-sweep.ts) on its own live merge of the recipe's models (or the demo's), on
   * the wasm backend, nothing written but the result, which is saved in OPFS (`sweeps/<id>.json`). The chat's
   * open model is left as it is. `stopSweep` cancels it (CancelledError).
   */
  async sweep(request: SweepRequest, onProgress: (p: SweepProgress) => void, onResponse?: (r: SweepResponse) => void): Promise<SweepResult> {
    if (this.sweepController) throw new ChatvecError('a sweep is running already', { code: 'sweep-busy', hint: 'Wait for it or stop it first' });
    const controller = new AbortController();
    this.sweepController = controller;
    try {
      checkSweepSettings(request.settings);
      const models = request.live.models ?? DEMO_MODELS;
      const live = await LiveModel.open(await this.triplet(models), { ...(await this.backendOptions('wasm')), alpha: request.settings.alphas[0], signal: controller.signal, ...(request.live.settings ? { settings: request.live.settings } : {}) });
      let result: SweepResult;
      try {
        result = await runSweep({ model: live, promptSet: request.promptSet, settings: request.settings, models, signal: controller.signal, onProgress, ...(onResponse ? { onResponse } : {}) });
      } finally {
        await live.close();
      }
      await this.sweeps?.save(result);
      return result;
    } finally {
      if (this.sweepController === controller) this.sweepController = null;
    }
  }

  stopSweep(): void {
    this.sweepController?.abort();
  }

  async close(): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (cur?.live) await cur.live.close();
    else if (cur) await cur.model.release();
  }

  private async run(session: ChatSession, files: Pick<PreviewFolder, 'tokenizerConfig' | 'chatTemplate' | 'tokenizer'> & { info: PreviewModelInfo }, messages: ChatMessage[], system: string, settings: PreviewSettings, onToken: (t: { id: number; text: string }) => void): Promise<GenerationResult> {
    checkSettings(settings);
    const promptIds = chatPromptIds(files, withSystem(messages, system), { folder: files.info.label });
    const controller = new AbortController();
    this.controller = controller;
    const ids: number[] = [];
    const sampling = settings.greedy ? { greedy: true, repetitionPenalty: settings.repetitionPenalty } : { temperature: settings.temperature, topK: settings.topK, topP: settings.topP, repetitionPenalty: settings.repetitionPenalty };
    try {
      for await (const t of session.generate(promptIds, { maxNewTokens: settings.maxNewTokens, sampling, signal: controller.signal, eosTokenIds: files.tokenizer.eosTokenIds })) {
        ids.push(t.id);
        try {
          void Promise.resolve(onToken(t)).catch(() => undefined);
        } catch {
          /* the page went away */
        }
      }
    } finally {
      if (this.controller === controller) this.controller = null;
    }
    const stats = session.lastStats!;
    return { promptIds, ids, text: stats.text, stats };
  }

  private need(): OpenModel {
    if (!this.current) throw new ChatvecError('no model is open for chat', { code: 'preview-none', hint: 'Choose a model and press Open' });
    return this.current;
  }

  private async backendOptions(backend: PreviewBackend): Promise<Pick<PreviewModelOptions, 'executionProviders' | 'weightDtype' | 'kvOnGpu' | 'numThreads' | 'ort'>> {
    const base = { ...this.env.modelOptions };
    if (backend === 'wasm') return { ...base, executionProviders: ['wasm'], weightDtype: 'f32' };
    const chosen = await choosePreviewBackend(this.env.gpu);
    if (chosen.executionProviders?.[0] === 'webgpu') return { ...base, ...chosen, executionProviders: ['webgpu'] };
    if (!(await this.backends()).webgpu) throw new ChatvecError('this browser offers no WebGPU adapter', { code: 'preview-no-webgpu', hint: 'Use the wasm backend' });
    // An adapter without shader-f16 (e.g. SwiftShader) runs f32 weights.
    return { ...base, executionProviders: ['webgpu'], weightDtype: 'f32' };
  }

  private async tree(source: Exclude<PreviewSource, { kind: 'live' }>): Promise<FileTree> {
    if (source.kind === 'demo') return this.demoTree(source.role);
    if (!this.library) throw new Error('internal: no OPFS root for the library');
    const { out, entry } = await this.library.open(source.id);
    if (entry.status !== 'complete' || (await out.size(MANIFEST_FILE)) !== null) {
      throw new ChatvecError('this merge was interrupted and is not a whole model yet', { code: 'library-incomplete', file: `library/${source.id} (${entry.name})`, hint: 'Resume or discard it in the merge panel first' });
    }
    return new DirectoryHandleTree(`library/${source.id} (${entry.name})`, out.dir);
  }

  private demoTree(role: ModelRole): Promise<BlobTree> {
    let p = this.demoTrees.get(role);
    if (!p) {
      p = this.fetchDemo(role);
      p.catch(() => this.demoTrees.delete(role));
      this.demoTrees.set(role, p);
    }
    return p;
  }

  private async fetchDemo(role: ModelRole): Promise<BlobTree> {
    const fetchFn = this.env.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
    const files = new Map<string, Blob>();
    await Promise.all(DEMO_FILES.map(async ({ name, required }) => {
      const url = new URL(`${role}/${name}`, this.env.demoUrl);
      const res = await fetchFn(url, { headers: { accept: 'application/octet-stream, application/json' } });
      const missing = res.status === 404 || (res.ok && (res.headers.get('content-type') ?? '').startsWith('text/html'));
      if (missing && !required) return;
      if (!res.ok || missing) throw new ChatvecError('cannot download the demo file', { code: 'demo-fetch', file: `demo/${role}/${name}`, expected: 'HTTP 200', found: missing ? 'not found' : `HTTP ${res.status}`, hint: 'Restore the demo models with `git checkout -- public/demo` (they are part of the repository; `node scripts/ensure-demo.mjs` checks them) and reload' });
      files.set(name, await res.blob());
    }));
    return new BlobTree(`demo/${role}`, files);
  }

  /** The files of a live triplet: the demo's, fetched here, or the recipe's, read from the studio worker. */
  private async triplet(models: LiveModels = DEMO_MODELS): Promise<LiveTriplet> {
    if (isDemo(models)) {
      const [cp, base, chat] = await Promise.all((['cp', 'base', 'chat'] as const).map((role) => this.demoTree(role)));
      return { cp, base, chat };
    }
    const reader = this.models;
    if (!reader) throw new ChatvecError('the chat preview cannot reach the recipe\'s models', { code: 'preview-no-models', file: models.cp, hint: 'Reload the page; the studio connects the preview to its models when it starts' });
    return { cp: new RemoteTree(models.cp, reader), base: new RemoteTree(models.base, reader), chat: new RemoteTree(models.chat, reader) };
  }

  /**
   * cp's own weights with the side files a merge of the triplet gets (cp has no chat template of its
   * own; the merge takes the chat model's template and eos).
   */
  private async openCpWithChatTemplate(models: LiveModels, opts: Omit<PreviewModelOptions, 'config' | 'weights'>): Promise<PreviewFolder> {
    const { inputs, sideFiles } = await planTriplet(await this.triplet(models), 0);
    try {
      return await openPreviewFiles(`${models.cp} (chat template from ${models.chat})`, sideFiles, checkpointWeights(inputs.cp), opts);
    } finally {
      await inputs.close();
    }
  }
}

function isDemo(models: LiveModels): boolean {
  return models.cp === DEMO_MODELS.cp && models.base === DEMO_MODELS.base && models.chat === DEMO_MODELS.chat;
}

function liveLabel(models: LiveModels = DEMO_MODELS, alpha: number): string {
  return isDemo(models) ? `demo merge, α = ${alpha}` : `merge of ${models.cp} + α·(${models.chat} − ${models.base}), α = ${alpha}`;
}

function withSystem(messages: ChatMessage[], system: string): ChatMessage[] {
  return system.trim() ? [{ role: 'system', content: system }, ...messages] : messages;
}

function checkSettings(s: PreviewSettings): void {
  const bad = (field: string, expected: string, found: number) => new ChatvecError(`the ${field} setting is out of range`, { code: 'bad-sampling', tensor: field, expected, found: String(found) });
  if (!Number.isSafeInteger(s.maxNewTokens) || s.maxNewTokens < 1 || s.maxNewTokens > 4096) throw bad('max new tokens', '1 … 4096', s.maxNewTokens);
  if (!(s.repetitionPenalty > 0)) throw bad('repetition penalty', '> 0 (1 = off)', s.repetitionPenalty);
  if (s.greedy) return;
  if (!(s.temperature >= 0)) throw bad('temperature', '≥ 0', s.temperature);
  if (!(s.topP > 0 && s.topP <= 1)) throw bad('top-p', '(0, 1]', s.topP);
  if (!Number.isSafeInteger(s.topK) || s.topK < 0) throw bad('top-k', 'an integer ≥ 0 (0 = off)', s.topK);
}
