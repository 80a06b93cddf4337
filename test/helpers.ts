import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { mergeRecipe } from '../src/core/merge-recipe.ts';
import { defaultRecipe, type Recipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { NodeOutputFolder } from '../src/core/sources/node-output.ts';
import type { MergeOptions } from '../src/core/merge/engine.ts';
import { loadCheckpoint } from '../src/core/checkpoint.ts';
import { decoderSpecFromConfig, decoderTensors } from '../src/model/graph/decoder-spec.ts';
import { checkpointWeights } from '../src/model/graph/external-data.ts';
import { ReferenceDecoder } from '../src/model/reference-forward.ts';

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

/** A model folder's weights as f32 and the f64 reference forward pass over them. */
export async function folderWeights(dir: string): Promise<{ reference: ReferenceDecoder; weights: Map<string, Float32Array> }> {
  const ck = await loadCheckpoint(new NodeFileTree(dir));
  try {
    const spec = decoderSpecFromConfig(ck.config);
    const read = checkpointWeights(ck);
    const weights = new Map<string, Float32Array>();
    for (const t of decoderTensors(spec)) weights.set(t.name, await read(t.name, t.shape));
    return { reference: new ReferenceDecoder(spec, weights), weights };
  } finally {
    await ck.close();
  }
}
