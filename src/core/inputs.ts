import { loadCheckpoint, type Checkpoint } from './checkpoint.ts';
import { describeInput, type InputDescription } from './output-files.ts';
import type { MergeInputs } from './plan.ts';
import type { Recipe } from './recipe.ts';
import type { FileTree } from './sources/byte-source.ts';

export interface OpenedInputs extends MergeInputs {
  described: InputDescription[];
  close(): Promise<void>;
}

/** Load every checkpoint a recipe names (each once, even when several roles share it). */
export async function openInputs(recipe: Recipe, resolve: (ref: string) => Promise<FileTree> | FileTree): Promise<OpenedInputs> {
  const cache = new Map<string, Promise<Checkpoint>>();
  /** The commit a Hub tree resolved its revision to, for the model card. */
  const commits = new Map<string, string>();
  const load = (ref: string) => {
    let p = cache.get(ref);
    if (!p) {
      p = Promise.resolve(resolve(ref)).then(async (tree) => {
        const ck = await loadCheckpoint(tree);
        const commit = (tree as { commit?: unknown }).commit; // Hub trees know it once listed
        if (typeof commit === 'string') commits.set(ref, commit);
        return ck;
      });
      cache.set(ref, p);
    }
    return p;
  };
  const close = async () => {
    for (const p of cache.values()) await p.then((c) => c.close(), () => undefined);
  };
  try {
    const cp = await load(recipe.cp);
    const vectors: MergeInputs["vectors"] = [];
    for (const v of recipe.vectors) vectors.push({ base: await load(v.base), chat: await load(v.chat) });
    const n = recipe.vectors.length;
    const described = [describeInput('cp', recipe.cp, cp, commits.get(recipe.cp))];
    recipe.vectors.forEach((v, i) => {
      const s = n > 1 ? ` ${i + 1}` : '';
      described.push(describeInput(`base${s}`, v.base, vectors[i].base, commits.get(v.base)), describeInput(`chat${s}`, v.chat, vectors[i].chat, commits.get(v.chat)));
    });
    return { cp, vectors, described, close };
  } catch (e) {
    await close();
    throw e;
  }
}
