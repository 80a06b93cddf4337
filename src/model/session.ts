/**
 * The in-tab preview model: config + weights → ONNX graph → onnxruntime-web session, and one
 * forward step over new tokens with a KV cache. Runs in Node, workers and pages.
 */
import type * as Ort from 'onnxruntime-web';
import { loadCheckpoint, parseJsonObject, type Checkpoint } from '../core/checkpoint.ts';
import { ChatvecError } from '../core/errors.ts';
import type { FileTree } from '../core/sources/byte-source.ts';
import { buildDecoderGraph, type DecoderGraph } from './graph/decoder-graph.ts';
import { decoderParameterCount, decoderSpecFromConfig, type DecoderSpec } from './graph/decoder-spec.ts';
import { checkpointWeights, packExternalData, type ExternalDataFile, type WeightSource } from './graph/external-data.ts';
import { renderChatPrompt, type ChatMessage, type RenderChatPromptOptions } from './chat-template.ts';
import { nextTask } from '../core/next-task.ts';
import { loadTokenizer, type TextTokenizer } from './tokenizer.ts';

export type OrtModule = typeof Ort;
export type ExecutionProvider = 'wasm' | 'webgpu';

export interface PreviewModelOptions {
  /** Parsed config.json of the model (for a merge: cp's config, which the merged model keeps). */
  config: Record<string, unknown>;
  /** f32 weights by HF name: the merge's tensors in memory, or a getter reading them on demand. */
  weights: WeightSource;
  /** f16 halves memory and is what WebGPU wants (needs shader-f16); f32 (default) for wasm. */
  weightDtype?: 'f32' | 'f16';
  /** In order of preference; default ['wasm']. Pages with WebGPU: ['webgpu', 'wasm']. */
  executionProviders?: ExecutionProvider[];
  /** The onnxruntime-web module; default `import('onnxruntime-web')`. */
  ort?: OrtModule;
  /** wasm threads (needs crossOriginIsolated in pages); ORT reads it once, when its first session starts. Default: ORT's choice. */
  numThreads?: number;
  /** Keep present key/values on the GPU between steps (webgpu only). */
  kvOnGpu?: boolean;
  /**
   * Keep the packed weight buffers and fill them again on `rebind` (live α rebinds often: reusing them
   * saves allocating and zeroing a model's worth of memory each time, at the cost of holding it).
   */
  keepWeightBuffers?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { phase: 'weights' | 'session'; done: number; total: number }) => void;
}

/** The KV cache after `length` tokens: present.N.{key,value} of the last run, fed back as past. */
export interface KvCache {
  length: number;
  /** [key₀, value₀, key₁, value₁, …], each [1, kv_heads, length, head_dim]. */
  tensors: Ort.Tensor[];
}

export interface ForwardResult {
  /** Logits of the last new position. */
  logits: Float32Array;
  cache: KvCache;
}

export interface SessionTimings {
  /** Reading / converting weights into the external data buffers. */
  packMs: number;
  /** InferenceSession.create (ORT copies the external data in and optimises the graph). */
  sessionMs: number;
}

export class PreviewModel {
  private constructor(
    readonly ort: OrtModule,
    readonly spec: DecoderSpec,
    readonly graph: DecoderGraph,
    private sessionRef: Ort.InferenceSession,
    private readonly sessionOptions: Ort.InferenceSession.SessionOptions,
    readonly timings: SessionTimings,
    private weightBuffers: ExternalDataFile[] | null,
  ) {}

  static async create(opts: PreviewModelOptions): Promise<PreviewModel> {
    const ort = opts.ort ?? (await import('onnxruntime-web'));
    const spec = decoderSpecFromConfig(opts.config);
    const graph = buildDecoderGraph(spec, { weightDtype: opts.weightDtype ?? 'f32', logits: 'last' });
    if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
    const eps = opts.executionProviders ?? ['wasm'];
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: eps,
      graphOptimizationLevel: 'all',
      ...(opts.kvOnGpu && eps[0] === 'webgpu' ? { preferredOutputLocation: Object.fromEntries(presentNames(spec).map((n) => [n, 'gpu-buffer' as const])) } : {}),
    };
    const { session, timings, externalData } = await openSession(ort, graph, opts.weights, sessionOptions, opts);
    return new PreviewModel(ort, spec, graph, session, sessionOptions, timings, opts.keepWeightBuffers ? externalData : null);
  }

  get session(): Ort.InferenceSession {
    return this.sessionRef;
  }

  get parameterCount(): number {
    return decoderParameterCount(this.spec);
  }

  /**
   * Swap in new weights (e.g. re-merged at another α) with the same graph bytes: a new session over
   * new external data; the old session is released. Every KV cache made before is invalid after.
   */
  async rebind(weights: WeightSource, opts: Pick<PreviewModelOptions, 'signal' | 'onProgress'> = {}): Promise<SessionTimings> {
    const { session, timings, externalData } = await openSession(this.ort, this.graph, weights, this.sessionOptions, { ...opts, reuse: this.weightBuffers ?? undefined });
    if (this.weightBuffers) this.weightBuffers = externalData;
    const old = this.sessionRef;
    this.sessionRef = session;
    await old.release();
    return timings;
  }

  emptyCache(): KvCache {
    const { numKvHeads, headDim } = this.spec;
    const empty = () => (this.graph.kvType === 'float16' ? new this.ort.Tensor('float16', new Uint16Array(0), [1, numKvHeads, 0, headDim]) : new this.ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]));
    return { length: 0, tensors: Array.from({ length: 2 * this.spec.numLayers }, empty) };
  }

  /** Run `ids` after the cached tokens (batch 1): the last position's logits and the grown cache. */
  async forward(ids: number[], cache: KvCache): Promise<ForwardResult> {
    if (ids.length === 0) throw new Error('internal: forward needs at least one token');
    await nextTask(); // a worker running step after step still reads its messages (a Stop) between them
    const { ort, spec } = this;
    for (const id of ids) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= spec.vocabSize) {
        throw new ChatvecError('a token id is outside the model\'s vocabulary', { code: 'preview-token-range', expected: `0 ≤ id < ${spec.vocabSize} (vocab_size in config.json)`, found: String(id), hint: 'The tokenizer and config.json disagree on the vocabulary size' });
      }
    }
    const past = cache.length, total = past + ids.length;
    const feeds: Record<string, Ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(past + i)), [1, ids.length]),
    };
    const names = presentNames(spec);
    names.forEach((n, i) => (feeds[n.replace('present.', 'past_key_values.')] = cache.tensors[i]));
    const out = await this.sessionRef.run(feeds);
    const logits = out.logits.data as Float32Array;
    return { logits: logits.subarray(logits.length - spec.vocabSize), cache: { length: total, tensors: names.map((n) => out[n]) } };
  }

  /** The first `length` positions of `cache` (multi-turn: keep the shared prefix of the conversation). */
  async truncateCache(cache: KvCache, length: number): Promise<KvCache> {
    if (length >= cache.length) return cache;
    const { numKvHeads: KV, headDim: D } = this.spec;
    const T = cache.length;
    const tensors = await Promise.all(cache.tensors.map(async (t) => {
      const data = (await t.getData()) as Float32Array | Uint16Array;
      const out = new (data.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(KV * length * D);
      for (let h = 0; h < KV; h++) out.set(data.subarray(h * T * D, (h * T + length) * D), h * length * D);
      if (t.location === 'gpu-buffer') t.dispose();
      return out instanceof Float32Array ? new this.ort.Tensor('float32', out, [1, KV, length, D]) : new this.ort.Tensor('float16', out, [1, KV, length, D]);
    }));
    return { length, tensors };
  }

  /** Free GPU-held cache tensors (CPU ones are garbage-collected). */
  disposeCache(cache: KvCache): void {
    for (const t of cache.tensors) if (t.location === 'gpu-buffer') t.dispose();
  }

  async release(): Promise<void> {
    this.weightBuffers = null;
    await this.sessionRef.release();
  }
}

function presentNames(spec: DecoderSpec): string[] {
  return Array.from({ length: spec.numLayers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
}

async function openSession(ort: OrtModule, graph: DecoderGraph, weights: WeightSource, sessionOptions: Ort.InferenceSession.SessionOptions, opts: Pick<PreviewModelOptions, 'signal' | 'onProgress'> & { reuse?: ExternalDataFile[] }): Promise<{ session: Ort.InferenceSession; timings: SessionTimings; externalData: ExternalDataFile[] }> {
  const t0 = performance.now();
  const externalData = await packExternalData(graph, weights, { signal: opts.signal, reuse: opts.reuse, onProgress: (done, total) => opts.onProgress?.({ phase: 'weights', done, total }) });
  const t1 = performance.now();
  opts.onProgress?.({ phase: 'session', done: 0, total: 1 });
  const session = await ort.InferenceSession.create(graph.modelBytes, { ...sessionOptions, externalData });
  opts.onProgress?.({ phase: 'session', done: 1, total: 1 });
  return { session, timings: { packMs: t1 - t0, sessionMs: performance.now() - t1 }, externalData };
}

/** A model folder opened for chat: the preview model, its tokenizer and the files generation needs. */
export interface PreviewFolder {
  model: PreviewModel;
  tokenizer: TextTokenizer;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: Record<string, unknown> | null;
  /** chat_template.jinja when the folder has one (it wins over tokenizer_config's). */
  chatTemplate?: string;
}

/**
 * The ids a chat model answers after: `messages` through the folder's chat template (chat_template.jinja
 * when it has one), ending with the assistant header, encoded without adding special tokens (the template
 * writes them). The chat preview, `chatvec generate` and the α sweep all prompt this way.
 */
export function chatPromptIds(folder: Pick<PreviewFolder, 'tokenizer' | 'tokenizerConfig' | 'chatTemplate'>, messages: ChatMessage[], opts: Pick<RenderChatPromptOptions, 'now' | 'folder'> = {}): number[] {
  const text = renderChatPrompt(folder.tokenizerConfig, messages, { ...opts, addGenerationPrompt: true, ...(folder.chatTemplate ? { chatTemplate: folder.chatTemplate } : {}) });
  return folder.tokenizer.encode(text, { addSpecialTokens: false });
}

/** Open a model folder (config.json, safetensors, tokenizer files) for the preview. */
export async function openPreviewFolder(tree: FileTree, opts: Omit<PreviewModelOptions, 'config' | 'weights'> = {}): Promise<PreviewFolder> {
  const ck: Checkpoint = await loadCheckpoint(tree);
  try {
    return await openPreviewFiles(ck.label, ck.sideFiles, checkpointWeights(ck), opts);
  } finally {
    await ck.close();
  }
}

/**
 * The preview of a model given as its side files (config.json, tokenizer files, chat template) and its
 * weights: a folder's, or a merge's held in memory.
 */
export async function openPreviewFiles(label: string, sideFiles: ReadonlyMap<string, Uint8Array>, weights: WeightSource, opts: Omit<PreviewModelOptions, 'config' | 'weights'> = {}): Promise<PreviewFolder> {
  const json = (name: string) => (sideFiles.has(name) ? parseJsonObject(sideFiles.get(name)!, `${label}/${name}`) : null);
  const config = json('config.json');
  if (!config) throw new ChatvecError('the model has no config.json', { code: 'preview-no-config', file: label, hint: 'The preview builds the network from config.json; add it to the folder' });
  const tokenizerJson = json('tokenizer.json');
  if (!tokenizerJson) throw new ChatvecError('the model has no tokenizer.json', { code: 'preview-no-tokenizer', file: label, hint: 'Copy tokenizer.json (and tokenizer_config.json) from the chat model into the folder' });
  const tokenizerConfig = json('tokenizer_config.json') ?? {};
  const generationConfig = json('generation_config.json');
  const tokenizer = await loadTokenizer({ tokenizerJson, tokenizerConfig, generationConfig, config });
  const model = await PreviewModel.create({ ...opts, config, weights });
  const template = sideFiles.get('chat_template.jinja');
  return { model, tokenizer, tokenizerConfig, generationConfig, ...(template ? { chatTemplate: new TextDecoder().decode(template) } : {}) };
}

/** The part of navigator.gpu the backend choice looks at. */
export interface GpuLike {
  requestAdapter(): Promise<{ features: { has(name: string): boolean } } | null>;
}

/**
 * Where the preview should run here: WebGPU with f16 weights when an adapter offers shader-f16,
 * otherwise the wasm EP with f32 weights (f16 on wasm would run through inserted casts, slower).
 */
export async function choosePreviewBackend(gpu: GpuLike | undefined = (globalThis as unknown as { navigator?: { gpu?: GpuLike } }).navigator?.gpu): Promise<Pick<PreviewModelOptions, 'executionProviders' | 'weightDtype' | 'kvOnGpu'>> {
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (adapter?.features.has('shader-f16')) return { executionProviders: ['webgpu', 'wasm'], weightDtype: 'f16', kvOnGpu: true };
  return { executionProviders: ['wasm'], weightDtype: 'f32' };
}

/** Convenience for `PreviewModel.create`. */
export function createPreviewModel(opts: PreviewModelOptions): Promise<PreviewModel> {
  return PreviewModel.create(opts);
}
