/**
 * Live α: a chat-vector merge held in memory and swapped into the preview session when α changes.
 * Opening reads the triplet once (cp and τ = chat − base as f32); `setAlpha` recomputes θ = cp + α·τ
 * straight into the graph's weight buffers and opens a new session on them. Nothing is written to disk.
 */
import { ChatvecError } from '../core/errors.ts';
import { openInputs, type OpenedInputs } from '../core/inputs.ts';
import { LiveWeights } from '../core/merge/live-weights.ts';
import { buildSideFiles } from '../core/output-files.ts';
import { hasErrors, planMerge, type MergePlan } from '../core/plan.ts';
import { defaultRecipe, type Recipe } from '../core/recipe.ts';
import type { FileTree } from '../core/sources/byte-source.ts';
import type { WeightFiller } from './graph/external-data.ts';
import { openPreviewFiles, type PreviewFolder, type PreviewModelOptions } from './session.ts';

export interface LiveTriplet {
  cp: FileTree;
  base: FileTree;
  chat: FileTree;
}

/** The parts of a recipe a live merge follows (its α is one number, for the one chat vector). */
export type LiveRecipeSettings = Partial<Pick<Recipe, 'embeddings' | 'skip' | 'copyTokenRows'>>;

export interface LiveModelOptions extends Omit<PreviewModelOptions, 'config' | 'weights' | 'onProgress'> {
  alpha: number;
  /** Embedding policy, skipped tensors and copied token rows (default: overlap, none, none). */
  settings?: LiveRecipeSettings;
  /** Reading the triplet (bytes of tensor data) and building the first session. */
  onProgress?: (p: { phase: 'read' | 'weights' | 'session'; done: number; total: number }) => void;
}

export interface AlphaChange {
  alpha: number;
  /** Re-planning + θ = cp + α·τ into the graph's weight buffers. */
  remergeMs: number;
  /** Creating the new ORT session over those buffers. */
  rebindMs: number;
}

export class LiveModel {
  private constructor(
    readonly folder: PreviewFolder,
    private readonly inputs: OpenedInputs,
    private readonly recipe: Recipe,
    private readonly weights: LiveWeights,
    private alphaValue: number,
  ) {}

  /** Open the merge cp + α·(chat − base) of `triplet` (recipe refs are the trees' labels). */
  static async open(triplet: LiveTriplet, opts: LiveModelOptions): Promise<LiveModel> {
    const { inputs, recipe, plan, sideFiles } = await planTriplet(triplet, opts.alpha, opts.settings);
    try {
      const weights = await LiveWeights.load(plan, { signal: opts.signal, onProgress: (done, total) => opts.onProgress?.({ phase: 'read', done, total }) });
      const { alpha: _alpha, settings: _settings, onProgress, ...modelOpts } = opts;
      const folder = await openPreviewFiles(`merge α=${opts.alpha}`, sideFiles, filler(weights, plan), {
        ...modelOpts,
        keepWeightBuffers: true,
        onProgress: (p) => onProgress?.(p),
      });
      return new LiveModel(folder, inputs, recipe, weights, opts.alpha);
    } catch (e) {
      await inputs.close();
      throw e;
    }
  }

  get alpha(): number {
    return this.alphaValue;
  }

  /** θ = cp + α·τ into a new session; every KV cache made before is invalid after. */
  async setAlpha(alpha: number, opts: { signal?: AbortSignal } = {}): Promise<AlphaChange> {
    const t0 = performance.now();
    const plan = planOrThrow(this.inputs, { ...this.recipe, vectors: this.recipe.vectors.map((v) => ({ ...v, alpha: checkAlpha(alpha) })) });
    if (!this.weights.matches(plan)) throw new Error('internal: the re-plan at a new α merges other tensors than the live weights hold');
    const timings = await this.folder.model.rebind(filler(this.weights, plan), { signal: opts.signal });
    this.alphaValue = alpha;
    const total = performance.now() - t0;
    return { alpha, remergeMs: total - timings.sessionMs, rebindMs: timings.sessionMs };
  }

  async close(): Promise<void> {
    await this.folder.model.release();
    await this.inputs.close();
  }
}

/**
 * The triplet's checkpoints opened, planned as the recipe cp + α·(chat − base) at f32, and the side files a
 * merged output gets (cp's config and tokenizer, the chat model's template and eos). Reads no weights; the
 * caller closes `inputs`.
 */
export async function planTriplet(triplet: LiveTriplet, alpha: number, settings: LiveRecipeSettings = {}): Promise<{ inputs: OpenedInputs; recipe: Recipe; plan: MergePlan; sideFiles: Map<string, Uint8Array> }> {
  const recipe: Recipe = { ...defaultRecipe(triplet.cp.label, triplet.base.label, triplet.chat.label, checkAlpha(alpha)), ...settings, dtype: 'f32' };
  const trees = new Map([triplet.cp, triplet.base, triplet.chat].map((t) => [t.label, t]));
  const inputs = await openInputs(recipe, (ref) => trees.get(ref)!);
  try {
    const plan = planOrThrow(inputs, recipe);
    return { inputs, recipe, plan, sideFiles: buildSideFiles(inputs, recipe, plan, inputs.described).files };
  } catch (e) {
    await inputs.close();
    throw e;
  }
}

function checkAlpha(alpha: number): number {
  if (!Number.isFinite(alpha)) throw new ChatvecError('α must be a finite number', { code: 'bad-alpha', found: String(alpha) });
  return alpha;
}

function planOrThrow(inputs: OpenedInputs, recipe: Recipe): MergePlan {
  const plan = planMerge(inputs, recipe);
  if (hasErrors(plan)) throw new ChatvecError('these models cannot be merged', { code: 'plan-errors', found: plan.issues.filter((i) => i.severity === 'error').map((i) => i.message).join('; '), hint: 'The compatibility report names what differs' });
  return plan;
}

/** The graph's weights at the α values of `plan`, computed into its buffers; shapes checked against config.json. */
function filler(weights: LiveWeights, plan: MergePlan): WeightFiller {
  const alphas = LiveWeights.alphasOf(plan);
  return {
    fill(name, shape, out) {
      const have = weights.shape(name);
      if (!have) throw new ChatvecError('a weight the preview needs is missing', { code: 'preview-missing-tensor', file: 'cp', tensor: name, expected: `shape [${shape.join(', ')}] as config.json implies`, found: 'no such tensor' });
      if (have.join() !== shape.join()) throw new ChatvecError('a weight has a shape config.json does not imply', { code: 'preview-tensor-shape', file: 'cp', tensor: name, expected: `[${shape.join(', ')}]`, found: `[${have.join(', ')}]` });
      weights.fill(name, alphas.get(name) ?? [], out);
    },
  };
}
