/** The recipe as the editor holds it (no model references) and the Recipe the worker plans. */
import type { EmbeddingPolicy, OutputDtype, Recipe } from '../../core/recipe.ts';
import { formatSize } from '../../core/recipe-io.ts';
import { alphaEditorFrom, alphaSetting, describeAlpha, type AlphaEditor } from './alpha.ts';

/** Everything in a recipe besides the models and their α. */
export interface RecipeSettings {
  embeddings: EmbeddingPolicy;
  skip: string[];
  dtype: OutputDtype;
  shardSize: number;
  copyTokenRows: string[];
}

export const SHARD_PRESETS = [500_000_000, 1_000_000_000, 2_000_000_000, 5_000_000_000];
export const OUTPUT_DTYPES: { value: OutputDtype; label: string }[] = [
  { value: 'auto', label: "auto (cp's dtype)" },
  { value: 'bf16', label: 'bf16' },
  { value: 'f16', label: 'f16' },
  { value: 'f32', label: 'f32' },
];
export const NORMS_PRESET = '*norm*';

/** Model references of one chat vector, as loadSource returned them. */
export interface VectorRefs {
  base: string;
  chat: string;
  alpha: AlphaEditor;
}

export function buildRecipe(cp: string, vectors: VectorRefs[], settings: RecipeSettings): Recipe {
  return {
    cp,
    vectors: vectors.map((v) => ({ base: v.base, chat: v.chat, alpha: alphaSetting(v.alpha) })),
    embeddings: settings.embeddings,
    skip: [...settings.skip],
    dtype: settings.dtype,
    shardSize: settings.shardSize,
    copyTokenRows: [...settings.copyTokenRows],
  };
}

/** The editor's view of a recipe: the settings, and one α editor per chat vector. */
export function editorFromRecipe(recipe: Recipe): { settings: RecipeSettings; alphas: AlphaEditor[] } {
  return {
    settings: { embeddings: recipe.embeddings, skip: [...recipe.skip], dtype: recipe.dtype, shardSize: recipe.shardSize, copyTokenRows: [...recipe.copyTokenRows] },
    alphas: recipe.vectors.map((v) => alphaEditorFrom(v.alpha)),
  };
}

/** Special tokens typed as a comma-separated list. */
export function parseTokenList(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** One line under the report saying which recipe it is for. */
export function describeRecipe(recipe: Recipe): string {
  const alphas = recipe.vectors.map((v, i) => `α${recipe.vectors.length > 1 ? subscript(i + 1) : ''} = ${describeAlpha(v.alpha)}`);
  const parts = [...alphas, `embeddings: ${recipe.embeddings}`];
  if (recipe.skip.length) parts.push(`skip ${recipe.skip.join(', ')}`);
  if (recipe.dtype !== 'auto') parts.push(`dtype ${recipe.dtype}`);
  parts.push(`shards ≤ ${formatSize(recipe.shardSize)}`);
  if (recipe.copyTokenRows.length) parts.push(`rows copied for ${recipe.copyTokenRows.join(', ')}`);
  return parts.join(', ');
}

function subscript(n: number): string {
  return String(n).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[Number(d)]);
}
