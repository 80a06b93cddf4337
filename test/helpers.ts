import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import { defaultRecipe, type Recipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { NodeOutputFolder } from '../src/core/sources/node-output.ts';
import type { MergeOptions } from '../src/core/merge/engine.ts';

/** A temp folder removed after the file's tests. */
export async function tempDir(prefix = 'chatvec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type Paths = { base: string; chat: string; cp: string };

export function recipeFor(p: Paths, over: Partial<Recipe> = {}, alpha: Recipe['vectors'][0]['alpha'] = 1): Recipe {
  return { ...defaultRecipe(p.cp, p.base, p.chat, alpha), ...over };
}

export function mergeTo(recipe: Recipe, out: string, opts: Partial<MergeOptions> = {}) {
  return mergeRecipe({ recipe, resolve: (ref) => new NodeFileTree(ref), out: new NodeOutputFolder(out), ...opts });
}
