/** The chat preview's worker, started on first use (the page pays for ORT only when someone opens the chat). */
import * as Comlink from 'comlink';
import type { LiveMerge } from '../../../workers/preview-api.ts';
import type { PreviewWorkerApi } from '../../../workers/preview.worker.ts';
import type { Recipe } from '../../core/recipe.ts';
import { getWorker } from '../store.ts';

export type PreviewWorker = Comlink.Remote<PreviewWorkerApi>;

let worker: PreviewWorker | null = null;

export function getPreviewWorker(): PreviewWorker {
  if (!worker) {
    worker = Comlink.wrap<PreviewWorkerApi>(new Worker(new URL('../../../workers/preview.worker.ts', import.meta.url), { type: 'module' }));
    // The preview reads the recipe's models (local folders, Hub repositories) from the studio worker that loaded them.
    const channel = new MessageChannel();
    void getWorker().connectPreview(Comlink.transfer(channel.port1, [channel.port1]));
    void worker.connectModels(Comlink.transfer(channel.port2, [channel.port2]));
  }
  return worker;
}

/**
 * The live merge the chat's α slider and the α sweep run on: the recipe's cp and first chat vector, with its
 * embedding policy, skips and token rows (the demo triplet while there is no recipe).
 */
export function liveMergeOf(recipe: Recipe | null): LiveMerge {
  if (!recipe) return {};
  const v = recipe.vectors[0];
  return { models: { cp: recipe.cp, base: v.base, chat: v.chat }, settings: { embeddings: recipe.embeddings, skip: recipe.skip, copyTokenRows: recipe.copyTokenRows } };
}
