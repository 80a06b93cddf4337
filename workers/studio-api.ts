import { loadCheckpoint, type Checkpoint } from '../src/core/checkpoint.ts';
import { summarizeCheckpoint, type CheckpointSummary } from '../src/core/summary.ts';
import { ChatvecError } from '../src/core/errors.ts';
import { openInputs } from '../src/core/inputs.ts';
import { buildSideFiles } from '../src/core/output-files.ts';
import { hasErrors, planMerge, type MergePlan, type PlanIssue } from '../src/core/plan.ts';
import { defaultRecipe, type EmbeddingPolicy } from '../src/core/recipe.ts';
import { BlobTree } from '../src/core/sources/blob.ts';
import type { FileTree } from '../src/core/sources/byte-source.ts';
import { DirectoryHandleTree } from '../src/core/sources/directory-handle.ts';
import type { Recipe } from '../src/core/recipe.ts';
import type { LoadedSource, PlanReport, SourceSpec } from './contract.ts';

export const MODEL_ROLES = ['base', 'chat', 'cp'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

/** What a model slot shows: read from the safetensors headers and config.json only, no weights. */
export interface ModelSummary extends CheckpointSummary {
  role: ModelRole;
  files: string[];
}

/** The recipe knobs the studio page turns; everything else is the default recipe. */
export interface PlanOverrides {
  alpha?: number;
  embeddings?: EmbeddingPolicy;
}

export interface TensorRow {
  name: string;
  action: 'merge' | 'copy';
  reason: string;
  shape: number[];
  dtype: string;
  alphas: number[];
}

/** A merge plan as plain data (structured-clone safe: no ByteSource or TensorRef inside). */
export interface StudioReport {
  alpha: number;
  embeddings: EmbeddingPolicy;
  ok: boolean;
  counts: MergePlan['counts'];
  totalOutputBytes: number;
  numLayers: number;
  issues: PlanIssue[];
  /** What the output's side files carry over and from where (chat template, eos token, …). */
  notes: string[];
  tensors: TensorRow[];
}

/** Files of one demo model folder; the rest of a checkpoint's files are never needed for the demo. */
export const DEMO_FILES: { name: string; required: boolean }[] = [
  { name: 'config.json', required: true },
  { name: 'model.safetensors', required: true },
  { name: 'tokenizer.json', required: false },
  { name: 'tokenizer_config.json', required: false },
  { name: 'generation_config.json', required: false },
  { name: 'special_tokens_map.json', required: false },
];

const DEMO_HINT = 'Run `node scripts/ensure-demo.mjs` (npm start does this) to write the demo models to public/demo';

/** The studio's state in its worker: the three loaded model folders, and the plan over them. */
export class Studio {
  private trees: Map<ModelRole, BlobTree> | null = null;

  constructor(
    /** Folder URL that holds base/, chat/ and cp/, ending in `/`. */
    private readonly demoUrl: string,
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  /** Fetch the built-in demo triplet and summarise each model. */
  async loadDemo(): Promise<ModelSummary[]> {
    const trees = new Map<ModelRole, BlobTree>();
    await Promise.all(MODEL_ROLES.map(async (role) => trees.set(role, await this.fetchModel(role))));
    this.trees = trees;
    const summaries: ModelSummary[] = [];
    for (const role of MODEL_ROLES) {
      const tree = trees.get(role)!;
      const ck = await loadCheckpoint(tree);
      try {
        summaries.push(summarizeSlot(role, ck, await tree.list()));
      } finally {
        await ck.close();
      }
    }
    return summaries;
  }

  /** Loaded sources by the reference recipes use for them. */
  private readonly sources = new Map<string, { tree: FileTree; loaded: LoadedSource }>();

  /** Load a model's headers and config from wherever it lives, and return its summary and recipe reference. */
  async loadSource(spec: SourceSpec): Promise<LoadedSource> {
    const { ref, tree, publicSpec } = await this.openSource(spec);
    const ck = await loadCheckpoint(tree);
    try {
      const loaded: LoadedSource = { ...summarizeCheckpoint(ck), ref, spec: publicSpec, files: await tree.list() };
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

  private async openSource(spec: SourceSpec): Promise<{ ref: string; tree: FileTree; publicSpec: LoadedSource['spec'] }> {
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
        const root = await navigator.storage.getDirectory();
        const lib = await root.getDirectoryHandle('library');
        const ref = `library/${spec.id}`;
        return { ref, tree: new DirectoryHandleTree(ref, await lib.getDirectoryHandle(spec.id)), publicSpec: { kind: 'library', id: spec.id } };
      }
      case 'hub':
        throw new ChatvecError('Hub sources are not available in this build', { code: 'hub-unavailable', file: spec.repo });
    }
  }

  /** Plan the merge of the loaded models with the default recipe plus `overrides`. Reads no weights. */
  async plan(overrides: PlanOverrides = {}): Promise<StudioReport> {
    const trees = this.trees;
    if (!trees) throw new Error('the demo models are not loaded yet');
    const alpha = overrides.alpha ?? 1;
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
      throw new ChatvecError('α must be a finite number', { code: 'bad-alpha', tensor: 'alpha', expected: 'a number such as 1.0', found: String(alpha) });
    }
    const recipe = defaultRecipe(demoRef('cp'), demoRef('base'), demoRef('chat'), alpha);
    if (overrides.embeddings !== undefined) recipe.embeddings = overrides.embeddings;
    const inputs = await openInputs(recipe, (ref) => {
      const tree = trees.get(ref.slice('demo/'.length) as ModelRole);
      if (!tree) throw new Error(`internal: no demo model for "${ref}"`);
      return tree;
    });
    try {
      const plan = planMerge(inputs, recipe);
      const side = buildSideFiles(inputs, recipe, plan, inputs.described);
      return { alpha, embeddings: recipe.embeddings, ...planReport(plan, side.notes) };
    } finally {
      await inputs.close();
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

/** A slot's summary: the core summary plus the role and the files present. */
export function summarizeSlot(role: ModelRole, ck: Checkpoint, files: string[]): ModelSummary {
  return { ...summarizeCheckpoint(ck), role, files: [...files] };
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
