import { describe, expect, it } from 'vitest';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../core/recipe-io.ts';
import type { Recipe } from '../../core/recipe.ts';
import { alphaEditorFrom } from './alpha.ts';
import { buildRecipe, describeRecipe, editorFromRecipe, parseTokenList } from './settings.ts';

const recipe: Recipe = {
  cp: 'demo/cp',
  vectors: [
    { base: 'demo/base', chat: 'demo/chat', alpha: [{ filter: 'self_attn', value: 0.5 }, { value: [0, 1] }] },
    { base: 'demo/base', chat: 'Qwen/Qwen2.5-0.5B-Instruct@main', alpha: 0.25 },
  ],
  embeddings: 'skip',
  skip: ['*norm*'],
  dtype: 'f16',
  shardSize: 1_000_000_000,
  copyTokenRows: ['<|eot_id|>'],
};

describe('recipe ↔ editor', () => {
  it('rebuilds the same recipe from the editor state', () => {
    const { settings, alphas } = editorFromRecipe(recipe);
    const rebuilt = buildRecipe(recipe.cp, recipe.vectors.map((v, i) => ({ base: v.base, chat: v.chat, alpha: alphas[i] })), settings);
    expect(rebuilt).toEqual(recipe);
  });

  it('survives a mergekit YAML round trip through the editor', () => {
    const imported = parseMergekitYaml(recipeToMergekitYaml(recipe));
    const { settings, alphas } = editorFromRecipe(imported);
    expect(buildRecipe(imported.cp, imported.vectors.map((v, i) => ({ ...v, alpha: alphas[i] })), settings)).toEqual(recipe);
    expect(alphas[0]).toEqual({ ...alphaEditorFrom([0, 1]), overrides: [{ filter: 'self_attn', value: 0.5 }] });
  });

  it('describes the recipe the report is for', () => {
    expect(describeRecipe(recipe)).toBe('α₁ = self_attn 0.5, others curve 0 → 1, α₂ = 0.25, embeddings: skip, skip *norm*, dtype f16, shards ≤ 1GB, rows copied for <|eot_id|>');
  });

  it('reads special tokens as a comma-separated list', () => {
    expect(parseTokenList(' <|eot_id|>, ,<|start_header_id|> ')).toEqual(['<|eot_id|>', '<|start_header_id|>']);
    expect(parseTokenList('')).toEqual([]);
  });
});
