import { ChatvecError } from './errors.ts';
import { openInputs } from './inputs.ts';
import { runMerge, type MergeOptions, type MergeResult } from './merge/engine.ts';
import { writeFileAtomic, type OutputFolder } from './merge/output-folder.ts';
import { buildSideFiles } from './output-files.ts';
import { hasErrors, planMerge, type MergePlan } from './plan.ts';
import type { Recipe } from './recipe.ts';
import type { FileTree } from './sources/byte-source.ts';

export interface MergeRecipeParams extends Omit<MergeOptions, 'shardSize' | 'finalize'> {
  recipe: Recipe;
  /** Turns a model reference of the recipe into its files. */
  resolve: (ref: string) => Promise<FileTree> | FileTree;
  out: OutputFolder;
  /** Called once the plan is made, before anything is written. */
  onPlan?: (plan: MergePlan, notes: string[]) => void;
}

/** Open the inputs, plan, refuse a plan with errors, then stream the merge and the side files into `out`. */
export async function mergeRecipe(p: MergeRecipeParams): Promise<MergeResult & { plan: MergePlan; notes: string[] }> {
  const inputs = await openInputs(p.recipe, p.resolve);
  try {
    const plan = planMerge(inputs, p.recipe);
    const side = buildSideFiles(inputs, p.recipe, plan, inputs.described);
    p.onPlan?.(plan, side.notes);
    if (hasErrors(plan)) {
      const errors = plan.issues.filter((i) => i.severity === 'error');
      const listed = errors.map((e) => `${e.message} (${e.tensors.slice(0, 2).join('; ')}${e.tensors.length > 2 ? '; …' : ''})`).join('; ');
      throw new ChatvecError(`the merge plan has ${errors.length} error(s): ${listed}`, { code: errors[0].code, hint: errors[0].hint ?? 'Run `chatvec plan` for the full report' });
    }
    const result = await runMerge(plan, p.out, {
      ...p,
      shardSize: p.recipe.shardSize,
      finalize: async (o) => {
        for (const [name, bytes] of side.files) await writeFileAtomic(o, name, bytes);
      },
    });
    return { ...result, plan, notes: side.notes };
  } finally {
    await inputs.close();
  }
}
